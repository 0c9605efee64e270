// Cross-validation (fold scores) and bias-variance (decomposition, bagging) study views.
import { armCell, colour, isNum, layout } from "./study_plot.js";
import { ALPHA } from "./study_tuning.js";
import { esc, num, pairsTable, rankText } from "./table.js";

// Arms sit at x = 0, 1, 2, ... so that two marks can stand side by side at one arm.
function armAxis(names) {
  return { tickvals: names.map((_, i) => i), ticktext: names, range: [-0.6, names.length - 0.4] };
}

export function crossValidation(study) {
  const arms = study.arms, k = study.folds, data = [];
  // A fold is the same data split for every arm (the tests pair on it): a faint line joins it.
  for (let f = 0; f < k; f++) {
    const dx = k > 1 ? -0.3 + 0.25 * f / (k - 1) : -0.2;
    data.push({ type: "scatter", mode: "lines+markers", legendgroup: "folds", showlegend: f === 0,
                name: "fold scores (a grey line joins one fold)", x: arms.map((_, i) => i + dx),
                y: arms.map((a) => a.fold_val_loss[f] ?? null), text: arms.map((a) => `${a.arm}, fold ${f + 1}`),
                hovertemplate: "%{text}: %{y:.4g}<extra></extra>", line: { color: "#c5cad3", width: 1 },
                marker: { size: 8, color: arms.map((_, i) => colour(i)), opacity: 0.85 } });
  }
  data.push({ type: "scatter", mode: "markers", name: "mean ± std over folds", x: arms.map((_, i) => i + 0.2),
              y: arms.map((a) => a.mean), text: arms.map((a) => `${a.arm}: ${num(a.mean)} ± ${num(a.std)}`),
              hovertemplate: "%{text}<extra></extra>",
              error_y: { type: "data", array: arms.map((a) => a.std), visible: true, thickness: 1.5, width: 8, color: "#495057" },
              // an open symbol is drawn in marker.color
              marker: { symbol: "line-ew-open", size: 26, color: arms.map((_, i) => colour(i)), line: { width: 3 } } });
  const chart = { key: "folds", data, layout: layout(`Validation loss on each of ${k} folds`,
    { title: "", more: armAxis(arms.map((a) => a.arm)) }, { title: "final validation loss (held-out fold)" }) };
  const rank = Object.fromEntries((study.paired?.ranking || []).map((r) => [r.arm, r]));
  const rows = arms.map((a, i) => `<tr>${armCell(i, a.arm)}<td>${num(a.mean)} <span class="muted">± ${num(a.std)}</span></td>
      <td>${isNum(a.ci_low) ? `[${num(a.ci_low)}, ${num(a.ci_high)}]` : "–"}</td><td>${rankText(rank[a.arm])}</td>
      <td class="wrap">${a.fold_val_loss.map(num).join(" · ")}</td><td>${num(a.test_loss_mean)}</td><td>${a.n_diverged}</td></tr>`);
  const html = `<table id="cv-table"><thead><tr><th>arm</th><th>mean ± std</th><th>95% Student-t CI</th><th>rank (group)</th>
      <th>fold scores</th><th>test loss (mean over folds)</th><th>diverged</th></tr></thead><tbody>${rows.join("")}</tbody></table>
    ${study.paired ? `<p class="muted">${esc(study.paired.ci_description)} · ${esc(study.paired.rank_rule)}.</p>` : ""}
    ${pairsTable(study.paired?.pairs, ALPHA, "Paired over folds: differences in validation loss")}`;
  return { charts: [chart], html };
}

const PARTS = [["bias2", "bias²", "#4263eb"], ["variance", "variance", "#f59f00"], ["noise", "noise", "#adb5bd"]];

export function biasVariance(study) {
  const arms = study.arms, x = arms.map((_, i) => i - 0.16);
  // Stacked bars whose top is bias² + variance + noise, with the test error measured directly
  // beside each stack: the reader compares the two heights.
  const data = PARTS.map(([key, name, c]) => ({
    type: "bar", name, x, y: arms.map((a) => (isNum(a[key]) ? a[key] : null)), width: 0.3, marker: { color: c },
    hovertext: arms.map((a) => a.arm), hovertemplate: `%{hovertext}: ${name} %{y:.4g}<extra></extra>` }));
  data.push({ type: "scatter", mode: "markers", name: "measured test error (± 2 SE)", x: arms.map((_, i) => i + 0.2),
              y: arms.map((a) => a.expected_test_error ?? null), text: arms.map((a) => a.arm),
              hovertemplate: "%{text}: measured %{y:.4g}<extra></extra>",
              error_y: { type: "data", array: arms.map((a) => 2 * (a.expected_test_error_se ?? 0)), visible: true, color: "#1d2330" },
              marker: { symbol: "diamond", size: 12, color: "#1d2330" } });
  const chart = { key: "bias-variance", data, layout: layout(`Bias–variance decomposition over ${study.resamples} bootstrap resamples`,
    { title: "", more: armAxis(arms.map((a) => a.arm)) }, { title: "test MSE" }, { barmode: "stack", bargap: 0 }) };
  return { charts: [chart], html: bvTables(study) };
}

function bvTables(study) {
  const rows = study.arms.map((a, i) => `<tr>${armCell(i, a.arm)}<td>${num(a.bias2)}</td><td>${num(a.variance)}</td>
      <td>${num(a.noise)}</td><td>${num(a.sum)}</td><td>${num(a.expected_test_error)} <span class="muted">± ${num(a.expected_test_error_se)}</span></td>
      <td>${num(a.cross_term)} <span class="muted">± ${num(a.cross_term_se)}</span></td>
      <td>${a.n_members}${a.n_diverged ? ` <span class="muted">(${a.n_diverged} diverged, left out)</span>` : ""}</td></tr>`);
  const bag = study.arms.filter((a) => a.bagging).map((a) => {
    const b = a.bagging, change = 100 * (b.ensemble_test_mse / b.single_net_test_mse - 1);
    return `<tr>${armCell(study.arms.indexOf(a), a.arm)}<td>${num(b.single_net_test_mse)}</td><td>${num(b.mean_member_test_mse)}</td>
      <td>${num(b.ensemble_test_mse)}</td><td>${change < 0 ? "−" : "+"}${Math.abs(change).toFixed(2)}%</td></tr>`;
  });
  return `<p class="muted">Test error = bias² + variance + noise + a cross term that is zero in expectation; on
      a finite test set it is not, and its size (± standard error) says how closely the parts should add up.
      The task's nominal noise variance is ${num(study.noise_nominal)}.</p>
    <table id="bv-table"><thead><tr><th>arm</th><th>bias²</th><th>variance</th><th>noise</th><th>sum</th>
      <th>measured test error ± SE</th><th>cross term ± SE</th><th>members</th></tr></thead><tbody>${rows.join("")}</tbody></table>
    ${bag.length ? `<h2>Bagging</h2><table id="bagging-table"><thead><tr><th>arm</th><th>single net, whole split</th>
      <th>mean bootstrap member</th><th>bagged ensemble</th><th>ensemble MSE vs single net</th></tr></thead>
      <tbody>${bag.join("")}</tbody></table>` : ""}`;
}
