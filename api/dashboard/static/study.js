// The job page's study views, from GET /jobs/{id}/study: a chart-and-table view per study
// kind, and for every job, plain comparisons too, each run's fitting flags.
import { request } from "./api.js";
import { trajectories } from "./study_paths.js";
import { search } from "./study_search.js";
import { biasVariance, crossValidation } from "./study_spread.js";
import { batchSize, tuning } from "./study_tuning.js";
import { esc } from "./table.js";

const VIEWS = { tuning, batch_size: batchSize, cross_validation: crossValidation,
                bias_variance: biasVariance, trajectories, search };
const TITLES = { tuning: "Learning-rate sensitivity", batch_size: "Batch size and sharpness",
                 cross_validation: "Cross-validation", bias_variance: "Bias–variance", trajectories: "Optimizer trajectories",
                 search: "Hyperparameter search" };
const STATUS = { "good fit": "good", underfitting: "under", overfitting: "over", diverged: "diverged" };
const CONFIG = { responsive: true, displaylogo: false };
// /study reads every finished run's curves: while a job runs it is asked at most this often.
const MIN_GAP_MS = 2000;

let state = null;  // the job whose study is being fetched, and whether another fetch is due

// Called by the job page whenever its results may have changed (load, a run finished, the
// job ended). Calls that arrive during a fetch fold into one more fetch after it, so the
// last call, the one at the job's end, is always answered.
export async function refreshStudy(jobId) {
  if (state?.jobId !== jobId) state = { jobId, busy: false, again: false, last: 0 };
  const s = state;
  if (s.busy) { s.again = true; return; }
  s.busy = true;
  try {
    do {
      s.again = false;
      const wait = s.last + MIN_GAP_MS - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      s.last = Date.now();
      const study = await request(`/jobs/${jobId}/study`);
      if (state === s) render(study);
    } while (s.again && state === s);
  } finally {
    s.busy = false;
  }
}

function render(study) {
  // The sections carry their job's id: a page replaced meanwhile is left alone.
  const el = document.querySelector(`#study[data-job="${study.job_id}"]`);
  const fit = document.querySelector(`#fitting[data-job="${study.job_id}"]`);
  if (!el || !fit) return;
  const view = VIEWS[study.kind];
  el.hidden = !view;
  if (view) {
    try {
      renderView(el, study, view);
    } catch (err) {
      el.innerHTML = `<h2>${TITLES[study.kind]}</h2><p class="error">This study could not be drawn: ${esc(err)}</p>`;
      el.dataset.kind = "";
    }
  }
  renderFitting(fit, study);
}

function renderView(el, study, view) {
  const done = study.complete ? `${study.n_finished} runs` : `${study.n_finished} of ${study.n_runs} runs finished · updates as runs finish`;
  if (!study.n_finished) {
    el.innerHTML = `<h2>${TITLES[study.kind]}</h2><p class="muted">No run has finished yet.</p>`;
    el.dataset.kind = "";
    return;
  }
  const v = view(study);
  // The frame is built once per kind; later refreshes redraw in place (no flicker, no scroll jump).
  if (el.dataset.kind !== study.kind) {
    el.innerHTML = `<h2>${TITLES[study.kind]} <span class="muted" id="study-progress"></span></h2>
      <div class="study-charts"></div><div id="study-tables"></div>`;
    el.dataset.kind = study.kind;
  }
  el.querySelector("#study-progress").textContent = done;
  const box = el.querySelector(".study-charts");
  // Every chart's box first, then the plots: a plot drawn before its neighbour exists would
  // keep the width of a grid row it no longer has to itself.
  const boxes = v.charts.map((c) => {
    let gd = box.querySelector(`[data-study-chart="${c.key}"]`);
    if (!gd) {
      gd = Object.assign(document.createElement("div"), { className: c.tall ? "chart tall" : "chart" });
      gd.dataset.studyChart = c.key;
      box.appendChild(gd);
    }
    return gd;
  });
  v.charts.forEach((c, i) => Plotly.react(boxes[i], c.data, c.layout, CONFIG));
  el.querySelector("#study-tables").innerHTML = v.html;
}

// Which data a run trained on, where a study varies it: a fold, or a bootstrap resample.
function dataOf(study, row) {
  if (row.variant === null || row.variant === undefined) return "";
  if (study.kind === "cross_validation") return `fold ${row.variant + 1}`;
  if (study.kind === "bias_variance") return row.variant === study.resamples ? "whole split" : `resample ${row.variant + 1}`;
  return String(row.variant);
}

function reached(t, status) {
  // No time_to_target: the run has no validation curve (it diverged first) or no target exists yet.
  if (!t) return `<td colspan="3" class="muted">${status === "diverged" ? "not reached" : "–"}</td>`;
  if (t.steps === null) return `<td colspan="3" class="muted">not reached</td>`;
  return `<td>${t.steps}</td><td>${t.examples}</td><td>${t.seconds === null ? "–" : Number(t.seconds).toFixed(2)}</td>`;
}

function renderFitting(fit, study) {
  const rows = study.fitting;
  fit.hidden = !rows;  // trajectories on a 2-D function have no validation split to judge
  if (!rows) return;
  if (!rows.length) {
    fit.innerHTML = `<h2>Fitting</h2><p class="muted">No run has finished yet.</p>`;
    return;
  }
  const counts = {};
  for (const r of rows) counts[r.status || "unknown"] = (counts[r.status || "unknown"] || 0) + 1;
  const withData = rows.some((r) => dataOf(study, r));
  const body = rows.map((r) => `<tr><td>${r.run}</td><td>${esc(r.label)}</td><td>${r.seed ?? "–"}</td>
      ${withData ? `<td>${esc(dataOf(study, r))}</td>` : ""}
      <td>${r.status ? `<span class="fit ${STATUS[r.status] || ""}">${esc(r.status)}</span>` : `<span class="muted">–</span>`}</td>
      <td class="reasons">${(r.reasons || []).map(esc).join("<br>") || `<span class="muted">–</span>`}</td>${reached(r.time_to_target, r.status)}</tr>`);
  fit.innerHTML = `<h2>Fitting <span class="muted">${Object.entries(counts).map(([k, n]) => `${n} ${esc(k)}`).join(" · ")}</span></h2>
    <table id="fitting-table"><thead><tr><th>run</th><th>label</th><th>seed</th>${withData ? "<th>data</th>" : ""}<th>status</th>
      <th class="reasons">reasons</th><th>steps to target</th><th>examples</th><th>seconds</th></tr></thead>
      <tbody>${body.join("")}</tbody></table>
    <p class="muted">Target: the job's <code>target_loss</code> on validation loss or, without one, the worst run's best
      validation loss (a level every run reaches).</p>
    ${study.fitting_rule ? `<p class="muted" id="fitting-rule">${esc(study.fitting_rule)}</p>` : ""}`;
}
