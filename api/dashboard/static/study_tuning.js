// Tuning (learning-rate sensitivity) and batch-size (sharpness) study views.
import { armCell, armOrder, ciBars, colour, isNum, layout, mean, pointText } from "./study_plot.js";
import { ci, esc, num, pairsTable, rankText } from "./table.js";

const STATS = new Set(["mean", "ci_low", "ci_high", "n_seeds", "n_diverged"]);
export const ALPHA = 0.05;  // the engine's pairwise_tests default; /study does not repeat it

const matches = (point, chosen) => !!chosen && Object.keys(chosen).every((k) => point[k] === chosen[k]);

function marks(name, pts, symbol, size, line) {
  return { type: "scatter", mode: "markers", name, x: pts.map((p) => p.x), y: pts.map((p) => p.y),
           text: pts.map((p) => p.text), hovertemplate: "%{text}<extra></extra>",
           marker: { symbol, size, color: pts.map((p) => p.fill || colour(p.i)),
                     line: { width: line.width, color: line.color || pts.map((p) => colour(p.i)) } } };
}

export function tuning(study) {
  const data = [], chosen = [], diverged = [];
  study.arms.forEach((arm, i) => {
    const keys = Object.keys(arm.sensitivity[0] || { lr: 0 }).filter((k) => !STATS.has(k));
    const others = keys.filter((k) => k !== "lr");
    // lr is the x axis: one line per combination of any other searched hyperparameter.
    const groups = new Map();
    for (const p of arm.sensitivity) groups.set(pointText(p, others), [...(groups.get(pointText(p, others)) || []), p]);
    [...groups].forEach(([g, pts], j) => data.push({
      type: "scatter", mode: "lines+markers", name: g ? `${arm.arm} (${g})` : arm.arm,
      x: pts.map((p) => p.lr), y: pts.map((p) => p.mean), error_y: ciBars(pts, colour(i)),
      line: { color: colour(i), width: 2, dash: ["solid", "dot", "dash", "dashdot"][j % 4] }, marker: { size: 6 },
      text: pts.map((p) => `${p.n_seeds} seeds${p.n_diverged ? `, ${p.n_diverged} diverged` : ""}`),
      hovertemplate: "lr %{x:.3g}: %{y:.4g} (%{text})<extra>%{fullData.name}</extra>" }));
    for (const p of arm.sensitivity) {
      // A point where every seed diverged has no mean: an × near the top says so, on an
      // overlaid 0-1 axis so that it does not stretch the loss axis; one row per arm so that
      // two arms diverging at the same lr stay apart.
      if (!isNum(p.mean) && p.n_diverged) {
        diverged.push({ x: p.lr, y: 0.95 - 0.06 * i, i, text: `${arm.arm} at ${pointText(p, keys)}: ${p.n_diverged}/${p.n_seeds} seeds diverged` });
      }
      if (matches(p, arm.chosen) && isNum(p.mean)) {
        chosen.push({ x: p.lr, y: p.mean, i, fill: "#ffd43b", text: `${arm.arm} chosen: ${pointText(p, keys)}, ${num(p.mean)}` });
      }
    }
  });
  if (chosen.length) data.push(marks("chosen point", chosen, "star", 18, { width: 1.2, color: "#1d2330" }));
  if (diverged.length) data.push({ ...marks("all seeds diverged", diverged, "x-thin-open", 11, { width: 2.5 }), yaxis: "y2" });
  const what = study.select_on === "best_val_loss" ? "best" : "final";
  const chart = { key: "tuning", data, layout: layout(`Validation loss (${what}) vs learning rate`,
    { title: "learning rate", type: "log" }, { title: `mean over ${study.tuning_seeds.length} seeds · 95% Student-t CI`, type: "log" },
    { yaxis2: { overlaying: "y", range: [0, 1], visible: false, fixedrange: true } }) };
  return { charts: [chart], html: tuningTable(study) };
}

function tuningTable(study) {
  const test = study.test;
  const byArm = (rows) => Object.fromEntries((rows || []).map((r) => [r.arm, r]));
  const table = byArm(test?.table), rank = byArm(test?.ranking);
  const rows = study.arms.map((arm, i) => {
    const keys = arm.chosen ? Object.keys(arm.chosen) : [];
    const at = arm.sensitivity.find((p) => matches(p, arm.chosen));
    const r = rank[arm.arm];
    return `<tr>${armCell(i, arm.arm)}<td>${arm.chosen ? esc(pointText(arm.chosen, keys)) : `<span class="muted">not yet</span>`}</td>
      <td>${at ? ci(at) : "–"}</td><td>${table[arm.arm] ? ci(table[arm.arm]) : `<span class="muted">pending</span>`}</td>
      <td>${rankText(r)}</td><td>${r && r.significantly_better_than.length ? esc(r.significantly_better_than.join(", ")) : "–"}</td></tr>`;
  });
  return `<p class="muted">Chosen on validation loss only, over seeds ${study.tuning_seeds.join(", ")}; each arm's
      chosen point was then re-trained from fresh seeds ${study.test_seeds.join(", ")} and scored on the test split.</p>
    <table id="tuning-table"><thead><tr><th>arm</th><th>chosen point</th><th>validation loss there</th>
      <th>test loss, fresh seeds</th><th>rank (group)</th><th>significantly better than</th></tr></thead>
      <tbody>${rows.join("")}</tbody></table>
    ${test ? `<p class="muted">${esc(test.ci_description)} · ${esc(test.rank_rule)}.</p>` : ""}
    ${(test?.warnings || []).map((w) => `<p class="muted">⚠ ${esc(w)}</p>`).join("")}
    ${pairsTable(test?.pairs, ALPHA, "Pairwise differences in test loss (fresh seeds)")}`;
}

const bsText = (row) => (row.full_batch ? "full batch" : `bs ${row.batch_size}`);

export function batchSize(study) {
  const order = armOrder(study.rows.map((r) => r.arm));
  const sharp = [], byBs = [];
  const sizes = [...new Set(study.rows.map((r) => r.batch_size))].sort((a, b) => a - b);  // ticks where the data is
  for (const [arm, i] of order) {
    const rows = study.rows.filter((r) => r.arm === arm);
    const test = rows.map((r) => r.final_test_loss), eig = rows.map((r) => r.top_hessian_eigenvalue);
    const common = { type: "scatter", name: arm, text: rows.map(bsText), textposition: "top center",
                     textfont: { size: 11, color: colour(i) }, marker: { size: 9, color: colour(i) } };
    sharp.push({ ...common, mode: "markers+text", x: eig.map(mean), y: test.map(mean),
                 error_x: ciBars(eig, colour(i)), error_y: ciBars(test, colour(i)),
                 hovertemplate: "%{text}: λmax %{x:.4g}, test loss %{y:.4g}<extra>%{fullData.name}</extra>" });
    byBs.push({ ...common, mode: "lines+markers", x: rows.map((r) => r.batch_size), y: test.map(mean),
                error_y: ciBars(test, colour(i)), line: { color: colour(i), width: 2 },
                hovertemplate: "%{text}: test loss %{y:.4g}<extra>%{fullData.name}</extra>" });
  }
  const charts = [
    { key: "sharpness", data: sharp, layout: layout("Test loss vs sharpness",
      { title: "top Hessian eigenvalue (log)", type: "log" }, { title: "final test loss · 95% Student-t CI" }) },
    { key: "batch-size", data: byBs, layout: layout("Test loss vs batch size",
      { title: "batch size (log)", type: "log", more: { tickvals: sizes, ticktext: sizes.map(String) } },
      { title: "final test loss · 95% Student-t CI" }) },
  ];
  return { charts, html: batchSizeText(study, order) };
}

const count = (v) => (isNum(v) ? String(Math.round(v)) : "–");

function corr(c) {
  return c && isNum(c.rho) ? `ρ = ${num(c.rho)}, p = ${num(c.p_value)}, n = ${c.n}` : "not enough runs";
}

function batchSizeText(study, order) {
  const budget = study.budget.examples ? `${study.budget.examples} examples seen` : `${study.budget.steps} steps`;
  const rows = study.rows.map((r) => `<tr>${armCell(order.get(r.arm), r.arm)}<td>${esc(bsText(r))}</td>
      <td>${count(mean(r.steps_trained))}</td><td>${count(mean(r.examples_seen))}</td><td>${ci(r.final_test_loss)}</td>
      <td>${ci(r.generalization_gap)}</td><td>${ci(r.top_hessian_eigenvalue)}</td><td>${ci(r.loss_increase_mean)}</td></tr>`);
  return `<p class="verdict"><b>Verdict:</b> ${esc(study.verdict)}</p>
    <p class="muted">Spearman over runs · sharpness vs test loss: ${corr(study.sharpness_vs_test_loss)} ·
      sharpness vs generalization gap: ${corr(study.sharpness_vs_gap)} · perturbation loss increase vs test loss:
      ${corr(study.perturbation_vs_test_loss)}. Every batch size had the same budget: ${budget}.</p>
    <table id="batch-size-table"><thead><tr><th>arm</th><th>batch</th><th>steps</th><th>examples</th><th>test loss</th>
      <th>generalization gap</th><th>top Hessian eigenvalue</th><th>loss increase (perturbed)</th></tr></thead>
      <tbody>${rows.join("")}</tbody></table>`;
}
