// The search study's view: best validation loss so far against trials and against steps, each
// arm's trials in parallel coordinates (searched hyperparameters, then the loss), and a table
// of each arm's best trial, budget, importances and the fresh-seed test comparison.
import { armCell, colour, isNum, layout, pointText } from "./study_plot.js";
import { ALPHA } from "./study_tuning.js";
import { ci, esc, num, pairsTable, rankText } from "./table.js";

function bestSoFar(study, x, title) {
  const data = study.arms.map((arm, i) => ({
    type: "scatter", mode: "lines+markers", name: arm.arm, line: { color: colour(i), width: 2, shape: "hv" },
    marker: { size: 4 }, x: arm.best_so_far.map((p) => p[x]), y: arm.best_so_far.map((p) => p.best_value),
    hovertemplate: `${x} %{x}: best %{y:.4g}<extra>%{fullData.name}</extra>` }));
  return { key: `search-${x}`, data, layout: layout(title, { title: x === "trials" ? "trials finished" : "steps trained (all trials)" },
    { title: "best final validation loss so far", type: "log" }) };
}

// One parallel-coordinates chart per arm: a line per finished trial, coloured by its loss;
// pruned trials sit at the top of the loss axis, labelled so.
function parallel(arm, i, study) {
  const done = arm.trials.filter((t) => t.state !== "running");
  const names = Object.keys(done[0]?.params || {}).sort();
  if (!names.length) return null;
  const finite = done.map((t) => t.value).filter(isNum);
  const worst = finite.length ? Math.max(...finite) : 1;
  const loss = done.map((t) => (isNum(t.value) ? t.value : worst * 1.1));
  const dims = names.map((n) => {
    const values = done.map((t) => Number(t.params[n]));
    const log = values.every((v) => v > 0) && Math.max(...values) / Math.min(...values) > 50;
    return log ? { label: `log10 ${n}`, values: values.map(Math.log10) } : { label: n, values };
  });
  dims.push({ label: "val loss (pruned, diverged: top)", values: loss });
  return { key: `search-parallel-${i}`, data: [{ type: "parcoords", dimensions: dims,
    line: { color: loss, colorscale: "Viridis", reversescale: true, showscale: true } }],
    layout: { title: { text: `${arm.arm}: ${done.length} trials (${study.sampler})`, font: { size: 14 }, x: 0.02 },
              margin: { l: 60, r: 40, t: 90, b: 30 }, paper_bgcolor: "#fff" } };
}

export function search(study) {
  const charts = [bestSoFar(study, "trials", "Best validation loss vs trials"),
                  bestSoFar(study, "steps", "Best validation loss vs compute")];
  study.arms.forEach((arm, i) => { const c = parallel(arm, i, study); if (c) charts.push(c); });
  return { charts, html: searchTable(study) };
}

const importance = (imp) => (imp ? Object.entries(imp).map(([k, v]) => `${esc(k)} ${num(v)}`).join(", ") : "–");

function searchTable(study) {
  const test = study.test;
  const byArm = (rows) => Object.fromEntries((rows || []).map((r) => [r.arm, r]));
  const table = byArm(test?.table), rank = byArm(test?.ranking);
  const rows = study.arms.map((arm, i) => {
    const b = arm.budget, r = rank[arm.arm];
    const states = ["complete", "pruned", "running"].map((s) => `${arm.trials.filter((t) => t.state === s).length} ${s}`);
    return `<tr>${armCell(i, arm.arm)}<td>${states.join(", ")}</td>
      <td>${arm.chosen ? esc(pointText(arm.chosen, Object.keys(arm.chosen))) : `<span class="muted">not yet</span>`}</td>
      <td>${num(arm.best_value)}</td><td>${b.steps} / ${b.planned_steps}</td><td>${num(b.seconds)}</td>
      <td>${importance(arm.importances)}</td>
      <td>${table[arm.arm] ? ci(table[arm.arm]) : `<span class="muted">pending</span>`}</td><td>${rankText(r)}</td></tr>`;
  });
  return `<p class="muted">${study.trials} trials per arm, proposed ${study.batch} at a time by ${esc(study.sampler)}
      and trained together; pruner ${esc(study.pruner)}. Every arm has the same planned budget. Each arm's best trial
      (lowest final validation loss over seeds ${study.seeds.join(", ")}) was re-trained from fresh seeds
      ${study.test_seeds.join(", ")} and scored on the test split.</p>
    <table id="search-table"><thead><tr><th>arm</th><th>trials</th><th>best trial</th><th>its validation loss</th>
      <th>steps spent / planned</th><th>seconds</th><th>importance (fANOVA)</th><th>test loss, fresh seeds</th>
      <th>rank (group)</th></tr></thead><tbody>${rows.join("")}</tbody></table>
    ${test ? `<p class="muted">${esc(test.ci_description)} · ${esc(test.rank_rule)}.</p>` : ""}
    ${pairsTable(test?.pairs, ALPHA, "Pairwise differences in test loss (fresh seeds)")}`;
}
