// One plotly chart per metric: per arm a mean line (WebGL) and a shaded band over seeds,
// individual seeds on demand.
import { COLOURS, band, ema, xMapper } from "./series.js";

export const TITLES = {
  train_loss: "Train loss", val_loss: "Validation loss", test_loss: "Test loss",
  train_accuracy: "Train accuracy", val_accuracy: "Validation accuracy", test_accuracy: "Test accuracy",
  grad_norm: "Gradient norm", update_ratio: "Update / weight ratio", lr: "Learning rate",
};
export const AXIS_METRICS = new Set(["examples_seen", "wall_time"]);
const X_TITLES = { step: "step", examples: "examples seen", wall: "wall time (s)" };

function transparent(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16},${(n >> 8) & 255},${n & 255},${alpha})`;
}

// Each label's colour index: its first appearance among the job's runs. A label, not an arm
// index, names a curve: a study's later stage numbers its arms afresh (a search's cohorts,
// tuning's re-runs), so one arm index holds different labels there.
export function labelOrder(runs) {
  const order = new Map();
  for (const r of runs) if (!order.has(r.label)) order.set(r.label, order.size);
  return order;
}

// Traces of one metric. ``store`` maps run -> metric -> {steps, values}; ``runs`` is the job's runs.
export function traces(metric, store, runs, opts) {
  const order = labelOrder(runs);
  const arms = new Map();
  for (const run of runs) {
    const curve = store[run.index]?.[metric];
    if (!curve || !curve.steps.length) continue;
    const toX = xMapper(opts.xMode, run, store[run.index]?.wall_time);
    // Sparse curves (evaluations every eval_every steps) are already averages over a whole
    // split; smoothing them only adds lag, so only dense per-step curves are smoothed.
    const values = curve.steps.length >= 100 ? ema(curve.values, opts.smoothing) : curve.values;
    if (!arms.has(run.label)) arms.set(run.label, { label: run.label, curves: [] });
    arms.get(run.label).curves.push({ steps: curve.steps, values, toX, seed: run.seed });
  }
  const out = [];
  for (const [, { label, curves }] of arms) {
    const colour = COLOURS[order.get(label) % COLOURS.length];
    const b = band(curves);
    const x = b.steps.map(curves[0].toX);
    if (b.n > 1) {
      out.push({ type: "scatter", mode: "lines", x: [...x, ...x.slice().reverse()],
                 y: [...b.high, ...b.low.slice().reverse()], fill: "toself", line: { width: 0 },
                 fillcolor: transparent(colour, 0.18), hoverinfo: "skip", showlegend: false,
                 legendgroup: label, name: `${label} band` });
    }
    if (opts.seeds) {
      for (const c of curves) {
        out.push({ type: "scattergl", mode: "lines", x: c.steps.map(c.toX), y: c.values, showlegend: false,
                   legendgroup: label, name: `${label} seed ${c.seed}`, opacity: 0.45,
                   line: { color: colour, width: 0.8 } });
      }
    }
    out.push({ type: "scattergl", mode: "lines", x, y: b.mean, name: b.n > 1 ? `${label} (mean of ${b.n})` : label,
               legendgroup: label, line: { color: colour, width: 2 } });
  }
  return out;
}

export function layout(metric, opts, range) {
  const logY = opts.logY && !metric.endsWith("accuracy");
  return {
    title: { text: TITLES[metric] || metric, font: { size: 14 }, x: 0.02 },
    margin: { l: 60, r: 12, t: 34, b: 40 }, uirevision: `${opts.xMode}`,
    xaxis: { title: { text: X_TITLES[opts.xMode] }, ...(range ? { range, autorange: false } : {}) },
    yaxis: { type: logY ? "log" : "linear", exponentformat: "power" },
    legend: { orientation: "h", y: -0.22, x: 0 }, hovermode: "x",
    paper_bgcolor: "#fff", plot_bgcolor: "#fff",
  };
}

export function pointCount(gd) {
  return (gd.data || []).reduce((n, t) => n + (t.x ? t.x.length : 0), 0);
}
