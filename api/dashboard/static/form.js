// The new-job form: a preset with its length and seeds overridden, or a full spec edited as JSON.
// The API's validation errors are shown next to the field they name.
import { HttpError, request } from "./api.js";

// Which field sets a preset's length: a trajectories study takes its own step count, an
// examples budget (batch-size studies) overrides train.steps, anything else trains train.steps.
function lengthField(spec) {
  if (spec.study?.kind === "trajectories") return { path: ["study", "steps"], label: "Steps on the 2-D function" };
  if (spec.train?.examples) return { path: ["train", "examples"], label: "Examples seen per run (the same for every batch size)" };
  return { path: ["train", "steps"], label: "Training steps" };
}

const esc = (s) => String(s).replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]);

export async function showForm(main) {
  const presets = await request("/presets");
  // The notes' seed experiment first: it is what most people come to compare.
  presets.sort((a, b) => (b.name === "seed-wave") - (a.name === "seed-wave"));
  main.innerHTML = `<h1>New job</h1>
    <form class="new-job" id="new-job" novalidate>
      <label for="preset">Preset</label>
      <select id="preset">${presets.map((p) => `<option value="${p.name}">${p.name}</option>`).join("")}</select>
      <p id="preset-description" class="muted"></p>
      <label for="steps" id="steps-label">Training steps</label><input id="steps" type="number" min="1">
      <p class="error" id="steps-error" data-field="train.steps"></p>
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
    const study = p.spec.study ? ` Study: ${p.spec.study.kind.replace("_", " ")}.` : "";
    form.querySelector("#preset-description").textContent = p.description + study;
    const length = lengthField(p.spec);
    form.querySelector("#steps-label").textContent = length.label;
    form.querySelector("#steps-error").dataset.field = length.path.join(".");
    form.steps.value = length.path.reduce((o, k) => o?.[k], p.spec) ?? "";  // empty: the default
    form.seeds.value = p.spec.seeds.join(", ");
    form.spec.value = JSON.stringify(p.spec, null, 2);
    form.spec.dataset.dirty = "";
  };
  form.preset.onchange = fill;
  form.spec.oninput = () => { form.spec.dataset.dirty = "1"; };
  fill();
  form.onsubmit = (ev) => { ev.preventDefault(); submit(form, byName); };
}

function body(form, byName) {
  // An edited spec is sent whole; otherwise the preset with the two fields overridden.
  if (form.spec.dataset.dirty) return JSON.parse(form.spec.value);
  const seeds = form.seeds.value.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const [group, field] = lengthField(byName[form.preset.value].spec).path;
  const length = form.steps.value === "" ? {} : { [group]: { [field]: Number(form.steps.value) } };
  return { preset: form.preset.value, overrides: { ...length, seeds } };
}

async function submit(form, byName) {
  for (const el of form.querySelectorAll(".error")) el.innerHTML = "";
  let payload;
  try {
    payload = body(form, byName);
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
