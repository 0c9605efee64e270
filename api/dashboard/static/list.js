// The job list in the sidebar: status and progress, refreshed every few seconds, narrowed by
// the search box (text in the name) and the tag filter; ticked jobs open the compare view.
import { HttpError, request } from "./api.js";
import { esc } from "./table.js";

const ACTIVE = new Set(["queued", "running"]);
const picked = new Set();  // jobs ticked for the compare view; kept across refreshes

export const jobTitle = (j) => j.name || `${j.preset || "custom spec"} ${j.id.slice(0, 8)}`;

// The filters as GET /jobs parameters: tags are separated by spaces or commas.
function query() {
  const params = new URLSearchParams({ limit: "50" });
  const q = document.getElementById("job-search").value.trim();
  if (q) params.set("q", q);
  for (const t of document.getElementById("tag-filter").value.split(/[\s,]+/)) if (t) params.append("tag", t);
  return params;
}

export async function refreshList(currentId) {
  const error = document.getElementById("list-error");
  let page;
  try {
    page = await request(`/jobs?${query()}`);
    error.textContent = "";
  } catch (err) {
    // A bad tag: the API names the parameter and says what a tag may hold.
    if (!(err instanceof HttpError) || err.status !== 422) throw err;
    error.textContent = err.body.detail.map((d) => d.msg).join("; ");
    return;
  }
  // The list schema has no progress; ask for it only for the few jobs that are still moving.
  const progress = {};
  await Promise.all(page.items.filter((j) => ACTIVE.has(j.status)).map(async (j) => {
    progress[j.id] = (await request(`/jobs/${j.id}`)).progress;
  }));
  const items = page.items.map((j) => {
    const pct = j.status === "succeeded" ? 100 : 100 * (progress[j.id] ?? 0);
    const bar = ACTIVE.has(j.status) ? `<div class="progress"><div style="width:${pct}%"></div></div>` : "";
    const when = new Date(j.created_at).toLocaleString();
    const tags = j.tags.map((t) => `<button class="tag" data-tag="${esc(t)}">${esc(t)}</button>`).join("");
    return `<li><input type="checkbox" class="pick" data-job="${j.id}" title="compare" ${picked.has(j.id) ? "checked" : ""}>
      <a href="#/jobs/${j.id}" class="${j.id === currentId ? "current" : ""}" data-job="${j.id}">
      <div class="job-title"><b>${esc(jobTitle(j))}</b><span class="badge ${j.status}">${j.status}</span></div>
      <div class="muted">${j.n_runs} runs · ${j.steps} steps · ${when}</div>${bar}</a>
      ${tags ? `<div class="tags">${tags}</div>` : ""}</li>`;
  });
  const empty = query().size > 1 ? "No job matches." : "No jobs yet.";
  document.getElementById("job-list").innerHTML = items.join("") || `<li class="muted">${empty}</li>`;
  showPicked();
}

function showPicked() {
  const button = document.getElementById("compare");
  button.textContent = `Compare (${picked.size})`;
  button.disabled = picked.size < 2;
}

// Typing filters after a short pause; a tag chip filters by its tag; ticks feed the compare button.
export function bindList(refresh) {
  let timer = null;
  const later = () => { clearTimeout(timer); timer = setTimeout(refresh, 250); };
  document.getElementById("job-search").addEventListener("input", later);
  document.getElementById("tag-filter").addEventListener("input", later);
  const list = document.getElementById("job-list");
  list.addEventListener("change", (ev) => {
    if (!ev.target.matches("input.pick")) return;
    if (ev.target.checked) picked.add(ev.target.dataset.job); else picked.delete(ev.target.dataset.job);
    showPicked();
  });
  list.addEventListener("click", (ev) => {
    if (!ev.target.matches("button.tag")) return;
    document.getElementById("tag-filter").value = ev.target.dataset.tag;
    refresh();
  });
  document.getElementById("compare").addEventListener("click", () => {
    location.hash = `#/compare/${[...picked].join(",")}`;
  });
}
