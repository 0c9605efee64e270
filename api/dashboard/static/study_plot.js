// Shared pieces of the study views: arm colours, confidence-interval bars, a plain layout.
import { COLOURS } from "./series.js";
import { esc } from "./table.js";

export const colour = (i) => COLOURS[i % COLOURS.length];
export const swatch = (i) => `<span class="swatch" style="background:${colour(i)}"></span>`;
export const armCell = (i, name) => `<td>${swatch(i)}${esc(name)}</td>`;
export const isNum = (v) => typeof v === "number" && Number.isFinite(v);

// Arms in the order the study lists them; that order is the spec's, so an arm keeps the
// colour it has in the curve charts wherever the study's runs are the spec's arms.
export function armOrder(names) {
  const order = new Map();
  for (const n of names) if (!order.has(n)) order.set(n, order.size);
  return order;
}

// Error bars from {mean, ci_low, ci_high} cells, drawn as two halves so any interval method fits.
export function ciBars(cells, colour) {
  const up = cells.map((c) => (c && isNum(c.mean) && isNum(c.ci_high) ? c.ci_high - c.mean : null));
  const down = cells.map((c) => (c && isNum(c.mean) && isNum(c.ci_low) ? c.mean - c.ci_low : null));
  return { type: "data", symmetric: false, array: up, arrayminus: down, visible: true,
           thickness: 1.2, width: 4, ...(colour ? { color: colour } : {}) };
}

export const mean = (c) => (c && isNum(c.mean) ? c.mean : null);

export function layout(title, x, y, extra = {}) {
  return {
    title: { text: title, font: { size: 14 }, x: 0.02 },
    margin: { l: 66, r: 16, t: 36, b: 48 },
    xaxis: { title: { text: x.title }, type: x.type || "linear", exponentformat: "power", zeroline: false, ...x.more },
    yaxis: { title: { text: y.title }, type: y.type || "linear", exponentformat: "power", zeroline: false, ...y.more },
    // The legend on the right: below the plot it would collide with the x-axis title.
    legend: { orientation: "v", x: 1.02, xanchor: "left", y: 1 }, hovermode: "closest",
    paper_bgcolor: "#fff", plot_bgcolor: "#fff", ...extra,
  };
}

// "lr=0.01, momentum=0.9" from a grid point or a chosen point.
export function pointText(point, keys) {
  return keys.map((k) => `${k}=${String(Number(Number(point[k]).toPrecision(3)))}`).join(", ");
}
