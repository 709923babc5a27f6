// The start screen: choose a pack, add a CV (uploaded at once, with progress), an optional job
// description and the language, then POST /api/sessions.

import { api, uploadCv } from "./api.js";
import { $, clearNotice, h, plural, showNotice } from "./ui.js";

const els = {
  view: $("#setup"),
  form: $("#setup-form"),
  packs: $("#packs"),
  start: $("#start"),
  dropzone: $("#dropzone"),
  file: $("#cv-file"),
  upload: $("#cv-upload"),
  name: $("#cv-name"),
  remove: $("#cv-remove"),
  progress: $("#cv-progress"),
  status: $("#cv-status"),
  job: $("#job"),
  jobCount: $("#job-count"),
  language: $("#language"),
  languageNote: $("#language-note"),
};

// Languages offered besides the packs' own; the interviewer speaks the chosen one.
const LANGUAGES = ["en", "ko", "de", "fr", "es", "pt", "it", "nl", "pl", "sv", "tr", "ja", "zh"];
const ACCEPTED = /\.(pdf|docx|txt|text|md|markdown)$/i;

let packs = [];
let cv = null; // {id, filename, chars, pages, truncated} once uploaded
let upload = null; // the upload in progress: {abort}
let uploads = 0; // bumps per upload; stale results are dropped
let onStarted = () => {};

export function configure({ started }) {
  onStarted = started;
}

export function setPacks(list) {
  packs = list;
  renderPacks();
}

export function show() {
  els.view.hidden = false;
  document.title = "hotseat · mock interview";
}

export function hide() {
  els.view.hidden = true;
}

// Which model interviews, from /api/health; on the embedded 135M, the server's advice to get a larger one.
export function showModel(health) {
  const title = health?.model_title || health?.model;
  if (!title) return;
  $("#model-live").textContent = `Interviewer model: ${title}`;
  const advice = $("#model-advice");
  advice.textContent = health.model_advice || "";
  advice.hidden = !health.model_advice;
  $("#model-note").hidden = false;
}

export function packsFailed(message) {
  const loading = $("#packs-loading");
  if (loading) loading.textContent = `Could not load the interviews: ${message}`;
}

function chosenPack() {
  const input = els.form.querySelector("input[name=pack]:checked");
  return packs.find((pack) => pack.id === input?.value) || null;
}

function renderPacks() {
  const legend = els.packs.querySelector("legend");
  els.packs.replaceChildren(legend);
  const grid = h("div.pack-grid");
  packs.forEach((pack, index) => {
    const titleId = `pack-${index}-title`;
    const descriptionId = `pack-${index}-description`;
    const input = h("input", {
      type: "radio",
      name: "pack",
      value: pack.id,
      "aria-labelledby": titleId,
      "aria-describedby": descriptionId,
    });
    input.checked = index === 0;
    const count = pack.question_count;
    grid.append(
      h(
        "label.pack",
        {},
        input,
        h(
          "span.pack-body",
          {},
          h("span.pack-title", { id: titleId, text: pack.title }),
          h("span.pack-description", { id: descriptionId, text: pack.description }),
          h("span.pack-meta.muted", { text: `${plural(count, "question")} · ${languageName(pack.language)}` }),
        ),
      ),
    );
  });
  els.packs.append(grid);
  if (!packs.length) els.packs.append(h("p.muted", { text: "No interview packs are installed." }));
  renderLanguages();
  updateStart();
}

function languageName(tag) {
  try {
    const own = new Intl.DisplayNames([tag], { type: "language" }).of(tag);
    const english = new Intl.DisplayNames(["en"], { type: "language" }).of(tag);
    return own && english && own !== english ? `${english} (${own})` : english || tag;
  } catch {
    return tag;
  }
}

function renderLanguages() {
  const pack = chosenPack();
  const tags = [...new Set([pack?.language, ...packs.map((p) => p.language), ...LANGUAGES].filter(Boolean))];
  els.language.replaceChildren(
    ...tags.map((tag) => h("option", { value: tag, text: tag === pack?.language ? `${languageName(tag)} · the pack's language` : languageName(tag) })),
  );
  els.language.value = pack?.language || "en";
  els.languageNote.textContent = "";
}

function updateStart() {
  const uploading = Boolean(upload);
  els.start.disabled = !packs.length || uploading;
  els.start.textContent = uploading ? "Uploading your CV…" : "Start interview";
}

// -- the CV --------------------------------------------------------------------------------------

function setCvStatus(text, state) {
  els.status.textContent = text;
  els.dropzone.dataset.state = state;
}

function chooseFile(file) {
  if (!file) return;
  clearNotice();
  upload?.abort();
  cv = null;
  const mine = ++uploads;
  els.upload.hidden = false;
  els.name.textContent = file.name;
  els.progress.value = 0;
  els.progress.hidden = false;
  els.remove.textContent = "Cancel";
  if (!ACCEPTED.test(file.name) && file.type && !/pdf|word|text|markdown/.test(file.type)) {
    // Still sent: the server decides from the content; this only sets expectations.
    setCvStatus("Checking the file…", "uploading");
  } else {
    setCvStatus("Uploading…", "uploading");
  }
  const current = uploadCv(file, (fraction) => {
    if (mine !== uploads) return;
    if (fraction === null) els.progress.removeAttribute("value");
    else els.progress.value = Math.round(fraction * 100);
    if (fraction === 1) setCvStatus("Reading your CV…", "uploading");
  });
  upload = current;
  updateStart();
  current.promise
    .then((stored) => {
      if (mine !== uploads) return;
      cv = stored;
      els.progress.hidden = true;
      els.remove.textContent = "Remove";
      const details = [plural(stored.chars, "character")];
      if (stored.pages) details.push(plural(stored.pages, "page"));
      let text = `Uploaded ${stored.filename} (${details.join(", ")}).`;
      if (stored.truncated) text += " It is long, so only its beginning will be used.";
      setCvStatus(text, "done");
    })
    .catch((err) => {
      if (mine !== uploads) return;
      cv = null;
      els.progress.hidden = true;
      els.remove.textContent = "Remove";
      if (err.code === "aborted") {
        clearCv();
        return;
      }
      setCvStatus(err.message, "error");
    })
    .finally(() => {
      if (mine !== uploads) return;
      upload = null;
      els.file.value = "";
      updateStart();
    });
}

function clearCv() {
  uploads += 1;
  upload?.abort();
  upload = null;
  cv = null;
  els.file.value = "";
  els.upload.hidden = true;
  setCvStatus("", "empty");
  updateStart();
}

// -- starting ----------------------------------------------------------------------------------------

async function startInterview(event) {
  event.preventDefault();
  const pack = chosenPack();
  if (!pack || upload) return;
  clearNotice();
  const body = { pack: pack.id };
  if (cv) body.cv_id = cv.id;
  const job = els.job.value.trim();
  if (job) body.job_description = job;
  if (els.language.value && els.language.value !== pack.language) body.language = els.language.value;
  els.start.disabled = true;
  els.start.textContent = "Starting…";
  try {
    const created = await api("/api/sessions", { method: "POST", body });
    resetForm();
    onStarted(created);
  } catch (err) {
    showNotice(`Could not start the interview: ${err.message}`);
  } finally {
    updateStart();
  }
}

function resetForm() {
  clearCv();
  els.job.value = "";
  els.jobCount.textContent = `0 / ${els.job.maxLength}`;
}

// -- wiring ------------------------------------------------------------------------------------------

els.form.addEventListener("submit", startInterview);
els.packs.addEventListener("change", (event) => {
  if (event.target.name === "pack") renderLanguages();
});
els.language.addEventListener("change", () => {
  const pack = chosenPack();
  els.languageNote.textContent = pack && els.language.value !== pack.language
    ? "The interviewer will hold the interview in this language."
    : "";
});
els.file.addEventListener("change", () => chooseFile(els.file.files?.[0]));
els.remove.addEventListener("click", clearCv);
els.job.addEventListener("input", () => {
  els.jobCount.textContent = `${els.job.value.length} / ${els.job.maxLength}`;
});
for (const type of ["dragenter", "dragover"]) {
  els.dropzone.addEventListener(type, (event) => {
    if (![...(event.dataTransfer?.types || [])].includes("Files")) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    els.dropzone.classList.add("dragging");
  });
}
els.dropzone.addEventListener("dragleave", (event) => {
  if (!els.dropzone.contains(event.relatedTarget)) els.dropzone.classList.remove("dragging");
});
els.dropzone.addEventListener("drop", (event) => {
  event.preventDefault();
  els.dropzone.classList.remove("dragging");
  chooseFile(event.dataTransfer?.files?.[0]);
});
// A file dropped beside the zone would make the browser navigate away to it.
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => event.preventDefault());
