// The results table: per arm statistics over seeds and the pairwise tests, from /jobs/{id}/results.
import { COLOURS } from "./series.js";

export const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
export const num = (v) => (v === null || v === undefined ? "–" : Number(v).toPrecision(4));

export function ci(cell) {
  if (!cell || cell.mean === null || cell.mean === undefined) return "–";
  if (cell.ci_low === null || cell.ci_low === cell.ci_high) return num(cell.mean);
  return `${num(cell.mean)} <span class="muted">[${num(cell.ci_low)}, ${num(cell.ci_high)}]</span>`;
}

// A rank with its letter group: arms sharing a letter are not significantly different.
export const rankText = (r) => (r ? `${r.rank} <span class="group">${esc(r.group ?? "")}</span>` : "–");

function reach(t) {
  if (t.mean_step === null) return `<span class="muted">not reached</span>`;
  return `${Math.round(t.mean_step)} <span class="muted">(${t.n_reached}/${t.n_runs})</span>`;
}

export function renderResults(el, results, armIndex) {
  if (!results.arms.length) {
    el.innerHTML = `<h2>Results</h2><p class="muted">No run has finished yet.</p>`;
    return;
  }
  const rows = results.arms.map((a) => `<tr>
      <td><span class="swatch" style="background:${COLOURS[(armIndex[a.arm] ?? 0) % COLOURS.length]}"></span>${esc(a.arm)}</td>
      <td>${rankText(a)}</td><td>${ci(a.final_val)}</td><td>${ci(a.best_val)}</td><td>${ci(a.gap)}</td>
      <td>${reach(a.time_to_target)}</td><td>${a.n_diverged ? `<b>${a.n_diverged}</b>` : 0} / ${a.n_seeds}</td></tr>`);
  const target = results.target === null ? "–" : num(results.target);
  el.innerHTML = `<h2>Results <span class="muted">${results.n_finished} of ${results.n_runs} runs finished ·
      mean over seeds with ${esc(results.ci_description)}</span></h2>
    <table id="results-table"><thead><tr><th>arm</th><th>rank (group)</th><th>final val loss</th><th>best val loss</th>
      <th>generalization gap</th><th>steps to val loss ≤ ${target}</th><th>diverged</th></tr></thead>
      <tbody>${rows.join("")}</tbody></table>
    <p class="muted" id="rank-rule">${esc(results.rank_rule)}.</p>
    ${pairsTable(results.pairs, results.alpha, "Pairwise differences in final validation loss")}
    ${results.warnings.map((w) => `<p class="muted">⚠ ${esc(w)}</p>`).join("")}`;
}

// Paired Wilcoxon tests with Holm-corrected p-values; the study views show the same table.
export function pairsTable(pairs, alpha, title) {
  if (!pairs || !pairs.length) return "";
  const rows = pairs.map((p) => `<tr><td>${esc(p.a)} vs ${esc(p.b)}</td><td>${esc(p.better)}</td>
      <td>${num(p.p_value)}</td><td>${num(p.p_holm)}</td>
      <td>${p.p_a_beats_b ? num(p.p_a_beats_b.estimate) : "–"}</td>
      <td class="${p.significant ? "sig" : "nsig"}">${p.significant ? "significant" : "not significant"}</td></tr>`);
  return `<h2>${esc(title)}</h2>
    <table class="pairs"><thead><tr><th>pair</th><th>better</th><th>Wilcoxon p</th><th>Holm p</th><th>P(first beats second)</th>
      <th>at α = ${alpha}</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}
