// The job page: charts fed by /metrics (downsampled), extended live by the SSE stream, with
// full resolution fetched for a zoomed range; the results table; cancel and report links.
import { request } from "./api.js";
import { AXIS_METRICS, TITLES, labelOrder, layout, traces } from "./charts.js";
import { bindLabels, labelsBody, labelsHead } from "./labels.js";
import { COLOURS } from "./series.js";
import { refreshStudy } from "./study.js";
import { esc, renderResults } from "./table.js";

const MAX_POINTS = 1500;   // per curve on first load: smooth, and fast even for 35 runs x 10,000 steps
const ZOOM_POINTS = 2000;  // per curve inside a zoomed range
const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const ORDER = Object.keys(TITLES);

let page = null;  // the one job page shown; replaced when the route changes

export function closeJob() {
  if (page?.source) page.source.close();
  if (page) clearTimeout(page.timer);
  page = null;
}

function merge(store, run, metric, steps, values) {
  const runStore = (store[run] ||= {});
  const curve = (runStore[metric] ||= { steps: [], values: [] });
  const last = curve.steps.length ? curve.steps[curve.steps.length - 1] : -1;
  for (let i = 0; i < steps.length; i++) {
    if (steps[i] > last) { curve.steps.push(steps[i]); curve.values.push(values[i]); }
  }
}

function loadInto(store, body) {
  for (const r of body.runs) {
    for (const [m, c] of Object.entries(r.metrics)) merge(store, r.run, m, c.steps, c.values);
  }
}

export async function showJob(main, jobId) {
  closeJob();
  const p = (page = { id: jobId, store: {}, zoom: {}, opts: { logY: true, smoothing: 0.9, xMode: "step", seeds: false } });
  p.job = await request(`/jobs/${jobId}`);
  p.armIndex = Object.fromEntries(labelOrder(p.job.runs));
  main.innerHTML = skeleton(p.job);
  bindControls(main, p);
  loadInto(p.store, await request(`/jobs/${jobId}/metrics?max_points=${MAX_POINTS}`));
  render(p);
  refreshResults(p);
  if (!TERMINAL.has(p.job.status)) follow(p);
}

function skeleton(job) {
  const arms = [...labelOrder(job.runs)]
    .map(([label, i]) => `<span><span class="swatch" style="background:${COLOURS[i % COLOURS.length]}"></span>${esc(label)}</span>`);
  const seeds = new Set(job.runs.map((r) => r.seed)).size;
  return `<div class="job-head">${labelsHead(job)}
      <span id="job-status" class="badge ${job.status}">${job.status}</span>
      <div class="progress"><div id="job-progress" style="width:${job.progress * 100}%"></div></div>
      <span class="muted">${job.n_runs} runs · ${seeds} seed(s) · ${job.steps} steps · ${job.id.slice(0, 8)}</span>
      <button id="cancel" class="secondary" ${["queued", "running"].includes(job.status) ? "" : "hidden"}>Cancel</button>
      <span class="muted">report: <a href="/jobs/${job.id}/report.html" target="_blank">HTML</a> ·
        <a href="/jobs/${job.id}/report.png" target="_blank">PNG</a> · <a href="/jobs/${job.id}/report.svg" target="_blank">SVG</a></span></div>
    ${labelsBody(job)}
    <section class="panel" id="study" data-job="${job.id}" hidden></section>
    <div class="controls"><div class="arms">${arms.join("")}</div>
      <label><input type="checkbox" id="log-y" checked> log scale</label>
      <label>smoothing <input type="range" id="smoothing" min="0" max="0.99" step="0.01" value="0.9"></label>
      <label>x axis <select id="x-mode"><option value="step">step</option><option value="examples">examples seen</option>
        <option value="wall">wall time</option></select></label>
      <label><input type="checkbox" id="show-seeds"> individual seeds</label>
      <span class="muted">band: mean ± 1 standard error over seeds · drag to zoom, double-click to reset</span></div>
    <div id="charts"></div><section class="panel" id="results"></section>
    <section class="panel" id="fitting" data-job="${job.id}" hidden></section>`;
}

function bindControls(main, p) {
  const rerender = () => { p.zoom = {}; render(p); };
  main.querySelector("#log-y").onchange = (e) => { p.opts.logY = e.target.checked; render(p); };
  main.querySelector("#smoothing").oninput = (e) => { p.opts.smoothing = Number(e.target.value); render(p); };
  main.querySelector("#x-mode").onchange = (e) => { p.opts.xMode = e.target.value; rerender(); };
  main.querySelector("#show-seeds").onchange = (e) => { p.opts.seeds = e.target.checked; render(p); };
  main.querySelector("#cancel").onclick = async () => {
    p.job = await request(`/jobs/${p.id}/cancel`, { method: "POST" });
    setStatus(p, p.job.status);
  };
  bindLabels(main, () => p.job, (job) => { p.job = job; });
}

function metricsOf(store) {
  const names = new Set();
  for (const run of Object.values(store)) for (const m of Object.keys(run)) if (!AXIS_METRICS.has(m)) names.add(m);
  return [...names].sort((a, b) => (ORDER.indexOf(a) + 99 * (ORDER.indexOf(a) < 0)) - (ORDER.indexOf(b) + 99 * (ORDER.indexOf(b) < 0)));
}

function render(p) {
  const box = document.getElementById("charts");
  if (!box || page !== p) return;
  const metrics = metricsOf(p.store);
  let created = false;
  for (const metric of metrics) {
    let gd = box.querySelector(`[data-metric="${metric}"]`);
    if (!gd) {
      gd = Object.assign(document.createElement("div"), { className: "chart" });
      gd.dataset.metric = metric;
      box.appendChild(gd);
      created = true;
    }
    const zoom = p.zoom[metric];
    const data = traces(metric, zoom ? zoom.store : p.store, p.job.runs, p.opts);
    Plotly.react(gd, data, layout(metric, p.opts, zoom?.range), { responsive: true, displaylogo: false });
    if (!gd.dataset.bound) { gd.dataset.bound = "1"; gd.on("plotly_relayout", (ev) => onZoom(p, metric, ev)); }
  }
  // Validation loss arrives later than train loss (every eval_every steps): keep the fixed order.
  if (created) for (const m of metrics) box.appendChild(box.querySelector(`[data-metric="${m}"]`));
}

// Redraws are batched: a live job sends several events a second.
function schedule(p) {
  if (p.pending) return;
  p.pending = true;
  setTimeout(() => { p.pending = false; render(p); }, 300);
}

// The step of an x value on the current axis (run 0's mapping; every arm shares the batches).
function stepOf(p, x) {
  if (p.opts.xMode === "step") return x;
  if (p.opts.xMode === "examples") return x / p.job.runs[0].batch_size;
  const wall = p.store[p.job.runs[0].index]?.wall_time;
  if (!wall || !wall.steps.length) return x;
  const rate = wall.steps[wall.steps.length - 1] / wall.values[wall.values.length - 1];
  return x * rate;
}

async function onZoom(p, metric, ev) {
  if (ev["xaxis.autorange"]) { delete p.zoom[metric]; render(p); return; }
  const x0 = ev["xaxis.range[0]"], x1 = ev["xaxis.range[1]"];
  if (x0 === undefined || x1 === undefined) return;
  const s0 = Math.max(0, Math.floor(stepOf(p, x0)) - 1), s1 = Math.ceil(stepOf(p, x1)) + 1;
  // The endpoint downsamples everything after `after_step`: ask for enough points that the
  // visible window alone gets about ZOOM_POINTS, i.e. full resolution when it holds fewer.
  const end = Math.max(s1 + 1, p.job.steps);
  const maxPoints = Math.min(1_000_000, Math.ceil(ZOOM_POINTS * (end - s0) / Math.max(1, s1 - s0)));
  const body = await request(`/jobs/${p.id}/metrics?metric=${metric}&metric=wall_time&after_step=${s0}&max_points=${maxPoints}`);
  const store = {};
  for (const r of body.runs) {
    const wall = p.store[r.run]?.wall_time;
    store[r.run] = { wall_time: wall || { steps: [], values: [] } };
    const c = r.metrics[metric];
    if (!c) continue;
    const keep = c.steps.map((s, i) => (s <= s1 ? i : -1)).filter((i) => i >= 0);
    store[r.run][metric] = { steps: keep.map((i) => c.steps[i]), values: keep.map((i) => c.values[i]) };
  }
  p.zoom[metric] = { store, range: [x0, x1] };
  render(p);
}

function setStatus(p, status) {
  const el = document.getElementById("job-status");
  if (!el) return;
  el.textContent = status;
  el.className = `badge ${status}`;
  document.getElementById("cancel").hidden = !["queued", "running"].includes(status);
  if (status === "succeeded") document.getElementById("job-progress").style.width = "100%";
}

async function refreshResults(p) {
  refreshStudy(p.id).catch(() => {});  // the study views change whenever the results do
  const results = await request(`/jobs/${p.id}/results`);
  const el = document.getElementById("results");
  if (el && page === p) renderResults(el, results, p.armIndex);
}

// EventSource sends the session cookie; it reconnects by itself with Last-Event-ID, and
// points already loaded from /metrics are skipped by step in merge().
function follow(p) {
  const source = (p.source = new EventSource(`/jobs/${p.id}/events`));
  source.addEventListener("metrics", (ev) => {
    const data = JSON.parse(ev.data);
    for (const c of data.metrics) merge(p.store, c.run, c.metric, c.steps, c.values);
    const prog = data.progress;
    if (prog) document.getElementById("job-progress").style.width = `${100 * prog.step / prog.steps}%`;
    schedule(p);
  });
  source.addEventListener("run_finished", () => {
    clearTimeout(p.timer);
    p.timer = setTimeout(() => refreshResults(p), 500);
  });
  source.addEventListener("status", async (ev) => {
    const { status } = JSON.parse(ev.data);
    setStatus(p, status);
    if (TERMINAL.has(status)) {
      source.close();
      window.dispatchEvent(new Event("optarena:job-finished"));
      p.job = await request(`/jobs/${p.id}`);
      refreshResults(p);
    }
  });
}
