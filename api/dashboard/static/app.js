// Hash routes: #/ (overview), #/new (new job), #/jobs/<id> (a job, live),
// #/compare/<id>,<id>,... (several jobs of one task).
import { initLogin, request } from "./api.js";
import { showCompare } from "./compare.js";
import { showForm } from "./form.js";
import { closeJob, showJob } from "./job.js";
import { bindList, refreshList } from "./list.js";

const main = document.getElementById("main");

function currentJob() {
  const m = location.hash.match(/^#\/jobs\/([\w-]+)/);
  return m ? m[1] : null;
}

function comparedJobs() {
  const m = location.hash.match(/^#\/compare\/([\w,-]+)/);
  return m ? m[1].split(",").filter(Boolean) : null;
}

async function route() {
  closeJob();
  const jobId = currentJob();
  const compared = comparedJobs();
  try {
    await refreshList(jobId);
    if (location.hash === "#/new") await showForm(main);
    else if (jobId) await showJob(main, jobId);
    else if (compared) await showCompare(main, compared);
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
bindList(() => refreshList(currentJob()).catch(() => {}));
window.addEventListener("hashchange", route);
window.addEventListener("optarena:job-finished", () => refreshList(currentJob()).catch(() => {}));
window.addEventListener("optarena:job-labelled", () => refreshList(currentJob()).catch(() => {}));
setInterval(() => refreshList(currentJob()).catch(() => {}), 3000);
route();
