// The compare view: the validation-loss curves of every arm of several jobs on one chart, each
// labelled "job name / arm", and their final validation and test losses side by side (from each
// job's /results). Only jobs of one task are compared: a loss on other data is not comparable.
import { request } from "./api.js";
import { layout } from "./charts.js";
import { jobTitle } from "./list.js";
import { COLOURS, band } from "./series.js";
import { ci, esc } from "./table.js";

const MAX_POINTS = 1500;  // per curve, as on the job page
const DASHES = ["solid", "dash", "dot", "dashdot", "longdash"];  // one per job, colours per arm

// What a job trains on: the task's name, and for an upload, which data set.
function taskOf(job) {
  const task = job.spec?.task;
  if (!task) return null;
  return task.name === "dataset" ? `data set ${task.dataset}` : task.name;
}

export async function showCompare(main, ids) {
  const jobs = await Promise.all(ids.map((id) => request(`/jobs/${id}`)));
  const tasks = new Set(jobs.map(taskOf));
  const head = `<h1>Compare ${jobs.length} jobs</h1>`;
  if (tasks.size !== 1 || tasks.has(null)) {
    const which = jobs.map((j) => `${esc(jobTitle(j))}: ${esc(taskOf(j) ?? "no valid spec")}`).join(" · ");
    main.innerHTML = `${head}<p class="error" id="compare-error">Jobs of different tasks cannot be compared:
      their losses are measured on different data. Tick jobs of one task only. (${which})</p>`;
    return;
  }
  const [curves, results] = await Promise.all([
    Promise.all(ids.map((id) => request(`/jobs/${id}/metrics?metric=val_loss&max_points=${MAX_POINTS}`))),
    Promise.all(ids.map((id) => request(`/jobs/${id}/results`))),
  ]);
  main.innerHTML = `${head}<p class="muted" id="compare-task">Task: ${esc([...tasks][0])} · validation loss,
      mean over seeds per arm; line style: job</p>
    <div class="chart" id="compare-chart"></div><section class="panel" id="compare-results"></section>`;
  const colours = new Map();  // "job index/arm" -> colour, shared by the chart and the table
  const colourOf = (j, arm) => {
    const key = `${j}/${arm}`;
    if (!colours.has(key)) colours.set(key, COLOURS[colours.size % COLOURS.length]);
    return colours.get(key);
  };
  const data = jobs.flatMap((job, j) => traces(job, j, curves[j], colourOf));
  const chart = main.querySelector("#compare-chart");
  Plotly.react(chart, data, layout("val_loss", { logY: true, xMode: "step" }), { responsive: true, displaylogo: false });
  renderTable(main.querySelector("#compare-results"), jobs, results, colourOf);
}

// One mean line per arm of the job, over its seeds' validation curves.
function traces(job, j, body, colourOf) {
  const arms = new Map();
  for (const run of body.runs) {
    const c = run.metrics.val_loss;
    if (!c || !c.steps.length) continue;
    if (!arms.has(run.label)) arms.set(run.label, []);
    arms.get(run.label).push({ steps: c.steps, values: c.values });
  }
  return [...arms].map(([arm, runs]) => {
    const b = band(runs);
    const name = `${jobTitle(job)} / ${arm}`;
    return { type: "scatter", mode: "lines", x: b.steps, y: b.mean, name: b.n > 1 ? `${name} (mean of ${b.n})` : name,
             line: { color: colourOf(j, arm), width: 2, dash: DASHES[j % DASHES.length] } };
  });
}

function renderTable(el, jobs, results, colourOf) {
  const rows = jobs.flatMap((job, j) => {
    if (!results[j].arms.length) {
      return [`<tr><td>${esc(jobTitle(job))}</td><td colspan="3" class="muted">no run has finished yet</td></tr>`];
    }
    return results[j].arms.map((a) => `<tr><td><span class="swatch" style="background:${colourOf(j, a.arm)}"></span>${esc(jobTitle(job))} / ${esc(a.arm)}</td>
      <td>${ci(a.final_val)}</td><td>${ci(a.final_test)}</td><td>${a.n_seeds}</td></tr>`);
  });
  el.innerHTML = `<h2>Results <span class="muted">mean over seeds with ${esc(results[0].ci_description)}</span></h2>
    <table id="compare-table"><thead><tr><th>job / arm</th><th>final val loss</th><th>final test loss</th><th>seeds</th></tr></thead>
      <tbody>${rows.join("")}</tbody></table>`;
}
