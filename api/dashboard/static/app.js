// Hash routes: #/ (overview), #/new (new job), #/jobs/<id> (a job, live).
import { initLogin, request } from "./api.js";
import { showForm } from "./form.js";
import { closeJob, showJob } from "./job.js";
import { refreshList } from "./list.js";

const main = document.getElementById("main");

function currentJob() {
  const m = location.hash.match(/^#\/jobs\/([\w-]+)/);
  return m ? m[1] : null;
}

async function route() {
  closeJob();
  const jobId = currentJob();
  try {
    await refreshList(jobId);
    if (location.hash === "#/new") await showForm(main);
    else if (jobId) await showJob(main, jobId);
    else await overview();
  } catch (err) {
    if (err.status !== 401) main.innerHTML = `<p class="error">${err.status === 404 ? "No such job." : err}</p>`;
  }
}

async function overview() {
  const jobs = await request("/jobs?limit=1");
  if (jobs.items.length) location.hash = `#/jobs/${jobs.items[0].id}`;
  else main.innerHTML = `<h1>No jobs yet</h1><p><a href="#/new">Start one</a>: the seed experiment compares
    SGD, Momentum and Adam on the same batches and initial weights.</p>`;
}

initLogin(route);
window.addEventListener("hashchange", route);
window.addEventListener("optarena:job-finished", () => refreshList(currentJob()).catch(() => {}));
setInterval(() => refreshList(currentJob()).catch(() => {}), 3000);
route();
