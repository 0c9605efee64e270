// The new-job form: a preset with steps and seeds overridden, or a full spec edited as JSON.
// The API's validation errors are shown next to the field they name.
import { HttpError, request } from "./api.js";

const esc = (s) => String(s).replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]);

export async function showForm(main) {
  const presets = await request("/presets");
  // The notes' seed experiment first: it is what most people come to compare.
  presets.sort((a, b) => (b.name === "seed-wave") - (a.name === "seed-wave"));
  main.innerHTML = `<h1>New comparison job</h1>
    <form class="new-job" id="new-job" novalidate>
      <label for="preset">Preset</label>
      <select id="preset">${presets.map((p) => `<option value="${p.name}">${p.name}</option>`).join("")}</select>
      <p id="preset-description" class="muted"></p>
      <label for="steps">Training steps</label><input id="steps" type="number" min="1">
      <p class="error" data-field="train.steps"></p>
      <label for="seeds">Seeds (comma separated)</label><input id="seeds" type="text">
      <p class="error" data-field="seeds"></p>
      <details id="spec-details"><summary>Edit the full spec (JSON)</summary>
        <textarea id="spec" spellcheck="false"></textarea></details>
      <div class="error" id="other-errors"></div>
      <button type="submit" id="submit">Start job</button>
    </form>`;
  const form = main.querySelector("#new-job");
  const byName = Object.fromEntries(presets.map((p) => [p.name, p]));
  const fill = () => {
    const p = byName[form.preset.value];
    form.querySelector("#preset-description").textContent = p.description;
    form.steps.value = p.spec.train.steps;
    form.seeds.value = p.spec.seeds.join(", ");
    form.spec.value = JSON.stringify(p.spec, null, 2);
    form.spec.dataset.dirty = "";
  };
  form.preset.onchange = fill;
  form.spec.oninput = () => { form.spec.dataset.dirty = "1"; };
  fill();
  form.onsubmit = (ev) => { ev.preventDefault(); submit(form); };
}

function body(form) {
  // An edited spec is sent whole; otherwise the preset with the two fields overridden.
  if (form.spec.dataset.dirty) return JSON.parse(form.spec.value);
  const seeds = form.seeds.value.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  return { preset: form.preset.value, overrides: { train: { steps: Number(form.steps.value) }, seeds } };
}

async function submit(form) {
  for (const el of form.querySelectorAll(".error")) el.innerHTML = "";
  let payload;
  try {
    payload = body(form);
  } catch (err) {
    form.querySelector("#other-errors").textContent = `The spec is not valid JSON: ${err.message}`;
    return;
  }
  try {
    const job = await request("/jobs", { json: payload });
    location.hash = `#/jobs/${job.id}`;
  } catch (err) {
    if (err instanceof HttpError && err.status === 422) showErrors(form, err.body.detail);
    else if (!(err instanceof HttpError && err.status === 401)) form.querySelector("#other-errors").textContent = String(err);
  }
}

function showErrors(form, errors) {
  const rest = [];
  for (const e of errors) {
    const field = e.field || "";
    const path = field.replace(/^overrides\./, "");  // a preset's override names the spec field under it
    const slot = [...form.querySelectorAll("[data-field]")]
      .find((el) => !form.spec.dataset.dirty && (path === el.dataset.field || path.startsWith(`${el.dataset.field}.`)));
    const text = `<code>${esc(field)}</code> ${esc(e.msg.replace(`${field}: `, ""))}`;
    if (slot) slot.innerHTML += `<div>${text}</div>`;
    else rest.push(`<div>${text}</div>`);
  }
  form.querySelector("#other-errors").innerHTML = rest.join("");
  if (rest.length && form.spec.dataset.dirty) form.querySelector("#spec-details").open = true;
}
