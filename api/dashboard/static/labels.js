// A job's labels on its page: the name, tags and notes, and a form that changes them with
// PATCH /jobs/{id}. The API's validation errors are shown next to the field they name.
import { HttpError, request } from "./api.js";
import { esc } from "./table.js";

const title = (job) => job.name || job.preset || "custom spec";
const tagChips = (job) => job.tags.map((t) => `<span class="tag">${esc(t)}</span>`).join("");

export function labelsHead(job) {
  return `<h1 id="job-name">${esc(title(job))}</h1><span id="job-tags">${tagChips(job)}</span>
    <button id="edit-labels" class="secondary">Edit labels</button>`;
}

export function labelsBody(job) {
  return `<p class="notes" id="job-notes" ${job.notes ? "" : "hidden"}>${esc(job.notes || "")}</p>
    <form id="labels-form" class="labels-form" novalidate hidden>
      <label for="label-name">Name</label><input id="label-name" type="text">
      <p class="error" data-field="name"></p>
      <label for="label-tags">Tags (comma separated)</label><input id="label-tags" type="text">
      <p class="error" data-field="tags"></p>
      <label for="label-notes">Notes</label><textarea id="label-notes" rows="4"></textarea>
      <p class="error" data-field="notes"></p>
      <div class="error" id="labels-other-errors"></div>
      <button type="submit" id="save-labels">Save</button>
      <button type="button" id="cancel-labels" class="secondary">Cancel</button>
    </form>`;
}

function show(job) {
  document.getElementById("job-name").textContent = title(job);
  document.getElementById("job-tags").innerHTML = tagChips(job);
  const notes = document.getElementById("job-notes");
  notes.textContent = job.notes || "";
  notes.hidden = !job.notes;
}

// Empty fields clear the label: no name, no tags, no notes.
function body(form) {
  const tags = form.querySelector("#label-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
  const name = form.querySelector("#label-name").value.trim();
  const notes = form.querySelector("#label-notes").value;
  return { name: name || null, tags, notes: notes.trim() ? notes : null };
}

function showErrors(form, errors) {
  const rest = [];
  for (const e of errors) {
    const field = e.field || "";
    const slot = [...form.querySelectorAll("[data-field]")]
      .find((el) => field === el.dataset.field || field.startsWith(`${el.dataset.field}.`));
    const text = `<div><code>${esc(field)}</code> ${esc(e.msg.replace(`${field}: `, ""))}</div>`;
    if (slot) slot.innerHTML += text;
    else rest.push(text);
  }
  form.querySelector("#labels-other-errors").innerHTML = rest.join("");
}

async function save(form, job, onSaved) {
  for (const el of form.querySelectorAll(".error")) el.innerHTML = "";
  try {
    const saved = await request(`/jobs/${job.id}`, { method: "PATCH", json: body(form) });
    form.hidden = true;
    show(saved);
    onSaved(saved);
    // The job list shows names and tags: it refreshes at once (app.js).
    window.dispatchEvent(new Event("optarena:job-labelled"));
  } catch (err) {
    if (err instanceof HttpError && err.status === 422) showErrors(form, err.body.detail);
    else if (!(err instanceof HttpError && err.status === 401)) {
      form.querySelector("#labels-other-errors").textContent = String(err);
    }
  }
}

// getJob() is the job as last loaded: the form opens on its current labels.
export function bindLabels(main, getJob, onSaved) {
  const form = main.querySelector("#labels-form");
  main.querySelector("#edit-labels").onclick = () => {
    const job = getJob();
    form.querySelector("#label-name").value = job.name || "";
    form.querySelector("#label-tags").value = job.tags.join(", ");
    form.querySelector("#label-notes").value = job.notes || "";
    for (const el of form.querySelectorAll(".error")) el.innerHTML = "";
    form.hidden = false;
    form.querySelector("#label-name").focus();
  };
  main.querySelector("#cancel-labels").onclick = () => { form.hidden = true; };
  form.onsubmit = (ev) => { ev.preventDefault(); save(form, getJob(), onSaved); };
}
