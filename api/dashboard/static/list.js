// The job list in the sidebar: status and progress, refreshed every few seconds.
import { request } from "./api.js";

const ACTIVE = new Set(["queued", "running"]);

export async function refreshList(currentId) {
  const page = await request("/jobs?limit=50");
  // The list schema has no progress; ask for it only for the few jobs that are still moving.
  const progress = {};
  await Promise.all(page.items.filter((j) => ACTIVE.has(j.status)).map(async (j) => {
    progress[j.id] = (await request(`/jobs/${j.id}`)).progress;
  }));
  const items = page.items.map((j) => {
    const pct = j.status === "succeeded" ? 100 : 100 * (progress[j.id] ?? 0);
    const bar = ACTIVE.has(j.status) ? `<div class="progress"><div style="width:${pct}%"></div></div>` : "";
    const when = new Date(j.created_at).toLocaleString();
    return `<li><a href="#/jobs/${j.id}" class="${j.id === currentId ? "current" : ""}" data-job="${j.id}">
      <div class="job-title"><b>${j.preset || "custom spec"}</b><span class="badge ${j.status}">${j.status}</span></div>
      <div class="muted">${j.n_runs} runs · ${j.steps} steps · ${when}</div>${bar}</a></li>`;
  });
  document.getElementById("job-list").innerHTML = items.join("") || `<li class="muted">No jobs yet.</li>`;
}
