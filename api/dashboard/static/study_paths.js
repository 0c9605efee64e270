// Trajectories: each arm's optimizer path over the contours of a 2-D test function.
import { armCell, colour, isNum, layout } from "./study_plot.js";
import { esc, num } from "./table.js";

const LIGHT = [[0, "#f3f6fb"], [0.5, "#c9d6ec"], [1, "#7d93bd"]];

// Rosenbrock and Beale span many decades: their levels come log-spaced, and plotly's contour
// takes evenly spaced levels only, so such a surface is drawn as log10(z) with the colour bar
// labelled in z. Levels that are not log-spaced (the saddle goes negative) are drawn as they are.
function contourTrace(c) {
  const lv = c.levels, n = lv.length;
  const logSpaced = n > 2 && lv[0] > 0 && Math.abs(lv[2] / lv[1] - lv[1] / lv[0]) < 1e-6 * (lv[1] / lv[0]);
  const f = logSpaced ? Math.log10 : (v) => v;
  const z = c.z.map((row) => row.map((v) => (isNum(v) && (!logSpaced || v > 0) ? f(v) : null)));
  const start = f(lv[0]), end = f(lv[n - 1]);
  const ticks = logSpaced ? Array.from({ length: Math.floor(end) - Math.ceil(start) + 1 }, (_, i) => Math.ceil(start) + i) : null;
  return { type: "contour", name: `${c.function} f(x, y)`, x: c.x, y: c.y, z, showlegend: false,
           contours: { start, end, size: (end - start) / Math.max(1, n - 1), coloring: "fill" },
           colorscale: LIGHT, line: { color: "#ffffff", width: 0.6 }, hoverinfo: "skip",
           colorbar: { title: { text: "f", side: "right" }, thickness: 12, len: 0.9,
                       ...(ticks ? { tickvals: ticks, ticktext: ticks.map((t) => `1e${t}`) } : {}) } };
}

export function trajectories(study) {
  const data = [], ends = [], paths = study.paths;
  if (study.contour) data.push(contourTrace(study.contour));
  paths.forEach((p, i) => {
    data.push({ type: "scatter", mode: "lines+markers", name: p.arm, x: p.x, y: p.y, customdata: p.loss,
                line: { color: colour(i), width: 2 }, marker: { size: 3, color: colour(i) },
                hovertemplate: "step %{pointNumber}: (%{x:.3f}, %{y:.3f}), f = %{customdata:.4g}<extra>%{fullData.name}</extra>" });
    const last = lastPoint(p);
    if (last) ends.push({ ...last, i, text: `${p.arm} ends at step ${last.k}: f = ${num(p.loss[last.k])}` });
  });
  const first = paths.find((p) => isNum(p.x[0]));
  if (first) {
    data.push({ type: "scatter", mode: "markers", name: "start", x: [first.x[0]], y: [first.y[0]],
                hovertemplate: `start (%{x}, %{y}), f = ${num(first.loss[0])}<extra></extra>`,
                marker: { symbol: "circle-open", size: 14, color: "#1d2330", line: { width: 2.5 } } });
  }
  if (ends.length) {
    data.push({ type: "scatter", mode: "markers", name: "end", x: ends.map((e) => e.x), y: ends.map((e) => e.y),
                text: ends.map((e) => e.text), hovertemplate: "%{text}<extra></extra>",
                marker: { symbol: "square", size: 11, color: ends.map((e) => colour(e.i)), line: { width: 1.5, color: "#1d2330" } } });
  }
  const c = study.contour;
  const range = (v) => (v && v.length ? { range: [v[0], v[v.length - 1]], autorange: false } : {});
  // Equal scales on x and y (a path's geometry is the point); the plot shrinks to fit rather
  // than widening the range past the contour grid. The legend goes on top, clear of the colour bar.
  const chart = { key: "trajectories", tall: true, data, layout: layout(`${study.function}: ${study.steps} steps from the same start`,
    { title: "x", more: { ...range(c?.x), constrain: "domain" } },
    { title: "y", more: { ...range(c?.y), scaleanchor: "x", scaleratio: 1, constrain: "domain" } },
    { legend: { orientation: "h", x: 1, xanchor: "right", y: 1.01, yanchor: "bottom" }, margin: { l: 66, r: 16, t: 56, b: 48 } }) };
  return { charts: [chart], html: pathTable(paths) };
}

// The last finite point: a diverged path stops where its loss left the floating-point range.
function lastPoint(p) {
  for (let k = p.x.length - 1; k >= 0; k--) if (isNum(p.x[k]) && isNum(p.y[k])) return { x: p.x[k], y: p.y[k], k };
  return null;
}

function pathTable(paths) {
  const rows = paths.map((p, i) => {
    const s = p.summary || {};
    const hp = Object.entries(p.hyperparameters || {}).map(([k, v]) => `${k}=${v}`).join(", ");
    return `<tr>${armCell(i, p.arm)}<td>${esc(p.optimizer)}</td><td class="wrap">${esc(hp)}</td><td>${num(s.start_loss)}</td>
      <td>${num(s.final_loss)}</td><td>${num(s.distance_to_minimum)}</td>
      <td>${s.diverged ? `<b>at step ${s.diverged_at_step ?? "?"}</b>` : "no"}</td></tr>`;
  });
  return `<table id="paths-table"><thead><tr><th>arm</th><th>optimizer</th><th>hyperparameters</th><th>f at start</th>
      <th>f at end</th><th>distance to the minimum</th><th>diverged</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}
