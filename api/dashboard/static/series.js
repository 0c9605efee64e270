// Curve arithmetic in the browser: smoothing, the x-axis mapping and the seed bands.

export const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

export function ema(values, alpha) {
  if (!alpha) return values;
  const out = new Array(values.length);
  let acc = null;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || !Number.isFinite(v)) { out[i] = null; continue; }
    acc = acc === null ? v : alpha * acc + (1 - alpha) * v;
    out[i] = acc;
  }
  return out;
}

// Linear interpolation of (xs, ys) at x; NaN outside the curve's range or across a null.
function interpolate(xs, ys, x) {
  let lo = 0, hi = xs.length - 1;
  if (hi < 0 || x < xs[0] || x > xs[hi]) return NaN;
  while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (xs[mid] <= x) lo = mid; else hi = mid; }
  if (xs[lo] === x) return ys[lo] ?? NaN;
  const a = ys[lo], b = ys[hi];
  if (a === null || b === null) return NaN;
  return a + (b - a) * (x - xs[lo]) / (xs[hi] - xs[lo]);
}

// Step -> x for the chosen axis. Wall time is logged at evaluation steps only, so steps in
// between are placed by interpolation (starting from 0 s at step 0).
export function xMapper(mode, run, wall) {
  if (mode === "examples") return (s) => s * run.batch_size;
  if (mode === "wall" && wall && wall.steps.length) {
    const xs = [0, ...wall.steps], ys = [0, ...wall.values];
    const last = xs.length - 1, rate = ys[last] / xs[last];
    return (s) => (s > xs[last] ? s * rate : interpolate(xs, ys, s));
  }
  return (s) => s;
}

// Mean and ±1 standard error over the seeds of one arm, on the grid of its densest seed.
// Why not a 95% interval: with 2-3 seeds its t-factor (12.7, 4.3) paints the whole chart;
// the results table carries the 95% intervals of the final numbers.
export function band(curves) {
  const grid = curves.reduce((a, c) => (c.steps.length > a.steps.length ? c : a), curves[0]).steps;
  const mean = [], low = [], high = [];
  for (const s of grid) {
    const vs = curves.map((c) => interpolate(c.steps, c.values, s)).filter(Number.isFinite);
    const n = vs.length;
    const m = n ? vs.reduce((a, b) => a + b, 0) / n : NaN;
    const sd = n > 1 ? Math.sqrt(vs.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1)) : 0;
    const half = n > 1 ? sd / Math.sqrt(n) : 0;
    // On a log axis a band reaching zero would fill to the bottom; a loss band stays positive.
    mean.push(n ? m : null); low.push(n ? Math.max(m - half, m / 10) : null); high.push(n ? m + half : null);
  }
  return { steps: grid, mean, low, high, n: curves.length };
}
