// The playground: every parameter of POST /v1/videos/generations, the live price
// (from POST /v1/videos/generations/quote as the form changes, with the ETA), progress from the job's Server-Sent Events, the player, the history, and the
// exact request as cURL or Python. The API is the judge of what is valid: its
// errors are shown next to the field named by error.param.
//
// The model's rules (prompt length, how many images, the modes, aspect ratios,
// resolutions and durations) come from its card, GET /v1/models: the form follows
// whatever the server enforces. Until the card has loaded no image is taken and
// Generate stays disabled, so nothing is sent against rules the page has not read.
import { api, ApiError, copyText, el, multiplyUsd, toast, usd, when } from "./common.js";

// How the server finds characterN in a prompt (its request parser's _CHARACTER, \bcharacter(\d+)\b,
// case-insensitive): a whole word, so "maincharacter1" and "character1x" name no image. A parsing
// rule, not a limit, so the card does not carry it. (The server's \d also takes non-ASCII digits.)
const CHARACTER = /(?<![\p{L}\p{N}_])character([0-9]+)(?![\p{L}\p{N}_])/giu;
// Words shown beside the aspect ratios the card lists; a ratio not named here shows as itself.
const ASPECT_LABELS = { "16:9": "16:9 landscape", "9:16": "9:16 portrait", "1:1": "1:1 square" };

const $ = (id) => document.getElementById(id);
const form = $("generate-form");
const promptBox = $("prompt");
const state = {
  model: null,          // GET /v1/models card: prices and every limit; null until it has loaded
  images: [],           // {key, file, url, uploadId, status: "uploading"|"ready"|"error", error}
  job: null,            // the job being followed
  events: null,         // its EventSource
  lastSeed: null,       // seed used by the last completed job shown
  quote: { timer: null, sent: null, seq: 0, errorField: null }, // the debounced quote of the form
};
// How long the form must rest before its quote is asked for.
const QUOTE_DELAY_MS = 350;
const ENDED = ["completed", "failed", "cancelled"];
let nextImageKey = 1;

// ---- reading the form ---------------------------------------------------------

function chosenMode() { return form.querySelector('input[name="mode"]:checked').value; }
function resolution() { return form.querySelector('input[name="resolution"]:checked').value; }
function namedCharacters(prompt) { return [...prompt.matchAll(CHARACTER)].map((m) => Number(m[1])); }
/** The prompt's length as the server counts it: characters (code points) of the trimmed text. */
function promptLength(prompt) { return [...prompt.trim()].length; }

/** The mode the server will use, by SPEC §3's rule for auto. */
function effectiveMode() {
  const mode = chosenMode();
  if (mode !== "auto") return mode;
  const count = state.images.length;
  if (count === 0) return "t2v";
  if (count === 1) return namedCharacters(promptBox.value).includes(1) ? "r2v" : "i2v";
  return "r2v";
}

/** The request body exactly as it will be sent (and shown as cURL/Python). */
function requestBody() {
  const body = { model: state.model?.id ?? "happyhorse-1-1", prompt: promptBox.value };
  const mode = chosenMode();
  if (mode !== "auto") body.mode = mode;
  const ids = state.images.map((image) => image.uploadId ?? `(uploading ${image.file.name})`);
  if (ids.length === 1 && effectiveMode() !== "r2v") body.image = ids[0];
  else if (ids.length) body.image = ids;
  // i2v follows the source image: the field is not sent (the control is disabled).
  if (effectiveMode() !== "i2v") body.aspect_ratio = $("aspect_ratio").value;
  body.resolution = resolution();
  body.duration = Number($("duration").value);
  const seed = $("seed").value.trim();
  // A number when it reads as one; anything else goes as typed, for the API to explain.
  if (seed !== "") body.seed = /^-?\d+$/.test(seed) ? Number(seed) : seed;
  if ($("watermark").checked) body.watermark = true;
  return body;
}

// ---- showing the form's state ------------------------------------------------------

function render() {
  const length = promptLength(promptBox.value);
  const most = state.model?.max_prompt_characters;
  const counter = $("prompt-count");
  counter.textContent = most === undefined ? length.toLocaleString("en-US")
    : `${length.toLocaleString("en-US")} / ${most.toLocaleString("en-US")}`;
  counter.classList.toggle("over", most !== undefined && length > most);

  const mode = effectiveMode();
  const count = state.images.length;
  const hint = {
    t2v: "text → video: no image",
    i2v: "image → video: the image is the first frame",
    r2v: count > 1 ? `references → video: ${count} reference images, character1 to character${count}`
      : count === 1 ? "references → video: one reference image, character1"
      : `references → video: ${state.model ? `1 to ${state.model.max_images}` : "one or more"} reference images`,
  }[mode];
  $("mode-hint").textContent = chosenMode() === "auto" ? `Auto will use ${hint}.` : `Uses ${hint}.`;

  const aspect = $("aspect_ratio");
  aspect.disabled = mode === "i2v";
  $("aspect-note").hidden = mode !== "i2v";

  renderHints();
  renderThumbs();
  renderPrice();
  renderCode();
}

/**
 * Rebuild a region only when what it shows changed. Rebuilding on every event would
 * replace a button between mousedown and click (a textarea's change event fires on
 * that very mousedown), and the click would be lost.
 */
const drawn = {};
function changed(region, signature) {
  if (drawn[region] === signature) return false;
  drawn[region] = signature;
  return true;
}

function renderHints() {
  // Chips that insert characterN at the caret, one per reference image.
  const count = state.images.length;
  if (!changed("hints", String(count))) return;
  const chips = [];
  for (let n = 1; n <= count; n++) {
    chips.push(el("button", { type: "button", class: "chip", onclick: () => insertAtCaret(`character${n}`),
                              "aria-label": `Insert character${n}` }, `character${n}`));
  }
  $("character-hints").replaceChildren(...chips);
}

function insertAtCaret(text) {
  const { selectionStart: start, selectionEnd: end, value } = promptBox;
  const before = value.slice(0, start);
  const spacer = before && !/\s$/.test(before) ? " " : "";
  promptBox.value = before + spacer + text + value.slice(end);
  promptBox.focus();
  promptBox.selectionStart = promptBox.selectionEnd = start + spacer.length + text.length;
  render();
}

function renderPrice() {
  if (!state.model) return;
  // At once, from the card; the server's quote (price, balance, ETA) replaces it when it answers.
  const perSecond = state.model.pricing.per_second[resolution()];
  const duration = Number($("duration").value);
  const body = JSON.stringify(requestBody());
  if (body === state.quote.sent) return; // the quote shown is this form's
  $("price").textContent = usd(multiplyUsd(perSecond, duration));
  $("price").dataset.source = "card";
  $("price-detail").textContent = `${duration} s × ${usd(perSecond)}/s (${resolution()})`;
  $("quote-note").textContent = "";
  scheduleQuote();
}

/** "~1 min 5 s" for an eta_seconds; "" for null. */
function etaText(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const minutes = Math.floor(seconds / 60);
  return minutes ? `~${minutes} min ${seconds % 60} s` : `~${seconds} s`;
}

/** Ask for the form's quote once the form has rested; only a complete form is quoted. */
function scheduleQuote(force = false) {
  clearTimeout(state.quote.timer);
  if (force) state.quote.sent = null;
  const ready = state.model && promptBox.value.trim() !== "" && state.images.every((image) => image.status === "ready");
  if (!ready) return;
  state.quote.timer = setTimeout(quote, QUOTE_DELAY_MS);
}

async function quote() {
  const body = requestBody();
  const sent = JSON.stringify(body);
  if (sent === state.quote.sent) return;
  const seq = ++state.quote.seq;
  try {
    const answer = await api("/v1/videos/generations/quote", { method: "POST", json: body });
    if (seq !== state.quote.seq) return; // a newer form was sent meanwhile
    state.quote.sent = sent;
    if (state.quote.errorField) { clearError(state.quote.errorField); state.quote.errorField = null; }
    $("price").textContent = usd(answer.price_usd);
    $("price").dataset.source = "quote";
    $("price-detail").textContent = `${answer.billed_seconds} s × ${usd(answer.unit_price_usd)}/s (${answer.request.resolution})`;
    const eta = etaText(answer.eta_seconds);
    $("quote-note").textContent = (eta ? `Ready in ${eta}. ` : "")
      + (answer.affordable ? "" : `More than your available ${usd(answer.available_usd)}.`);
    $("quote-note").classList.toggle("short", !answer.affordable);
  } catch (error) {
    if (seq !== state.quote.seq) return;
    state.quote.sent = sent; // not asked again until the form changes
    const field = error instanceof ApiError ? fieldOf(error.param) : null;
    if (field) {
      showFieldError(field, error.message); // beside its field, as a submit's error is; focus stays put
      state.quote.errorField = field;
      $("quote-note").textContent = "";
    } else {
      $("quote-note").textContent = error.message;
    }
  }
}

function shellQuote(text) { return `'${text.replace(/'/g, `'\\''`)}'`; }

/** A JSON value as a Python literal (True/False/None), indented like the JSON. */
function pythonLiteral(value, indent = "") {
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number" || typeof value === "string") return JSON.stringify(value);
  const inner = indent + "    ";
  if (Array.isArray(value)) return `[${value.map((v) => pythonLiteral(v, inner)).join(", ")}]`;
  const items = Object.entries(value).map(([k, v]) => `${inner}${JSON.stringify(k)}: ${pythonLiteral(v, inner)},`);
  return `{\n${items.join("\n")}\n${indent}}`;
}

function curlText(body) {
  return [
    `curl ${location.origin}/v1/videos/generations \\`,
    `  -H "Authorization: Bearer $HAPPYHORSE_API_KEY" \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -d ${shellQuote(JSON.stringify(body, null, 2))}`,
  ].join("\n");
}

function pythonText(body) {
  return [
    "import os",
    "",
    "import requests",
    "",
    "response = requests.post(",
    `    "${location.origin}/v1/videos/generations",`,
    `    headers={"Authorization": f"Bearer {os.environ['HAPPYHORSE_API_KEY']}"},`,
    `    json=${pythonLiteral(body, "    ")},`,
    ")",
    "job = response.json()",
    'print(job["job_id"], job["status"])',
  ].join("\n");
}

function renderCode() {
  const body = requestBody();
  $("code-curl").firstElementChild.textContent = curlText(body);
  $("code-python").firstElementChild.textContent = pythonText(body);
}

// ---- images: drop zone, uploads, thumbnails ---------------------------------------------

function addFiles(files) {
  let list = [...files].filter((file) => file.type.startsWith("image/") || /\.(jpe?g|png|webp|bmp)$/i.test(file.name));
  if (!list.length) return;
  if (!state.model) {
    toast("Still loading the model's limits: add the images again in a moment");
    return;
  }
  if (chosenMode() === "t2v") {
    // Text-to-video takes no image: dropping one means the user wants an image mode.
    form.querySelector("#mode-auto").checked = true;
    toast("Mode switched to Auto");
  }
  if (chosenMode() === "i2v") {
    // One source image: a new one replaces the old.
    state.images.splice(0).forEach((image) => URL.revokeObjectURL(image.url));
    list = list.slice(0, 1);
  }
  const most = state.model.max_images;
  const room = Math.max(most - state.images.length, 0);
  if (list.length > room) toast(`At most ${most} images: ${list.length - room} left out`);
  for (const file of list.slice(0, room)) {
    const image = { key: nextImageKey++, file, url: URL.createObjectURL(file), uploadId: null, status: "uploading" };
    state.images.push(image);
    upload(image);
  }
  clearError("image");
  render();
}

async function upload(image) {
  const body = new FormData();
  body.append("file", image.file, image.file.name);
  try {
    const uploaded = await api("/v1/uploads", { method: "POST", body });
    image.uploadId = uploaded.upload_id;
    image.status = "ready";
  } catch (error) {
    image.status = "error";
    image.error = error.message;
    showFieldError("image", `${image.file.name}: ${error.message}`);
  }
  render();
}

function moveImage(index, delta) {
  const target = index + delta;
  if (target < 0 || target >= state.images.length) return;
  const [moved] = state.images.splice(index, 1);
  state.images.splice(target, 0, moved);
  render();
  // Keep the keyboard focus on the moved image's button.
  const button = document.querySelector(`#thumbs li[data-key="${moved.key}"] button[data-move="${delta}"]`);
  (button && !button.disabled ? button : document.querySelector(`#thumbs li[data-key="${moved.key}"] button`))?.focus();
}

function removeImage(index) {
  const [removed] = state.images.splice(index, 1);
  URL.revokeObjectURL(removed.url);
  render();
  $("dropzone").focus();
}

function renderThumbs() {
  const mode = effectiveMode();
  const signature = mode + state.images.map((image) => `${image.key}:${image.status}`).join(",");
  if (!changed("thumbs", signature)) return;
  const items = state.images.map((image, index) => {
    const label = mode === "r2v" ? `character${index + 1}` : mode === "i2v" ? "source image" : `image ${index + 1}`;
    const status = image.status === "ready" ? null
      : el("span", { class: `state ${image.status === "error" ? "bad" : ""}` }, image.status === "error" ? "upload failed" : "uploading…");
    const item = el("li", { class: "thumb", draggable: "true", "data-key": image.key, "data-upload-id": image.uploadId },
      el("img", { src: image.url, alt: `${label}: ${image.file.name}` }),
      el("span", { class: "tag" }, label),
      status,
      el("div", { class: "tools" },
        el("button", { type: "button", "data-move": "-1", disabled: index === 0, "aria-label": `Move ${label} earlier`,
                       onclick: () => moveImage(index, -1) }, "◀"),
        el("button", { type: "button", "aria-label": `Remove ${label}`, onclick: () => removeImage(index) }, "✕"),
        el("button", { type: "button", "data-move": "1", disabled: index === state.images.length - 1,
                       "aria-label": `Move ${label} later`, onclick: () => moveImage(index, 1) }, "▶")));
    // Drag a thumbnail onto another to reorder (the buttons do the same from the keyboard).
    item.addEventListener("dragstart", (event) => event.dataTransfer.setData("text/x-hh-index", String(index)));
    item.addEventListener("dragover", (event) => { event.preventDefault(); item.classList.add("drag-over"); });
    item.addEventListener("dragleave", () => item.classList.remove("drag-over"));
    item.addEventListener("drop", (event) => {
      const from = event.dataTransfer.getData("text/x-hh-index");
      if (from === "") return; // files dropped on a thumbnail: the drop zone's handler adds them
      event.preventDefault();
      event.stopPropagation();
      moveImage(Number(from), index - Number(from));
    });
    return item;
  });
  $("thumbs").replaceChildren(...items);
}

function setupDropzone() {
  const zone = $("dropzone");
  const input = $("image-input");
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); }
  });
  input.addEventListener("change", () => { addFiles(input.files); input.value = ""; });
  for (const target of [zone, $("thumbs")]) {
    target.addEventListener("dragover", (event) => {
      if (event.dataTransfer.types.includes("Files")) { event.preventDefault(); zone.classList.add("dragging"); }
    });
    target.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    target.addEventListener("drop", (event) => {
      zone.classList.remove("dragging");
      if (event.dataTransfer.files.length) { event.preventDefault(); addFiles(event.dataTransfer.files); }
    });
  }
}

// ---- errors next to their fields --------------------------------------------------

// The control that carries a field's error (a group's first radio: the resolutions come from the card).
const FIELD_CONTROLS = { prompt: "#prompt", mode: "#mode-auto", image: "#dropzone", aspect_ratio: "#aspect_ratio",
                         resolution: 'input[name="resolution"]', duration: "#duration", seed: "#seed",
                         watermark: "#watermark" };
function control(field) { return form.querySelector(FIELD_CONTROLS[field]); }

/** "image[2]" → "image": the error's param as one of the form's fields, or null. */
function fieldOf(param) {
  if (!param) return null;
  const name = param.replace(/\[\d+\]$/, "");
  return name in FIELD_CONTROLS ? name : null;
}

function showFieldError(field, message) {
  const box = $(`err-${field}`);
  box.textContent = message;
  box.hidden = false;
  control(field).setAttribute("aria-invalid", "true");
  $(`field-${field}`).setAttribute("aria-invalid", "true");
}

function clearError(field) {
  $(`err-${field}`).hidden = true;
  control(field).removeAttribute("aria-invalid");
  $(`field-${field}`).removeAttribute("aria-invalid");
}

function clearErrors() {
  Object.keys(FIELD_CONTROLS).forEach(clearError);
  $("form-error").hidden = true;
}

function showError(error) {
  const field = error instanceof ApiError ? fieldOf(error.param) : null;
  if (field) {
    showFieldError(field, error.message);
    control(field).focus();
    return;
  }
  const banner = $("form-error");
  banner.replaceChildren(error.message);
  if (error.code === "insufficient_credits") {
    banner.append(" ", el("a", { href: "/dashboard/usage" }, "See your balance"));
  }
  banner.hidden = false;
  banner.scrollIntoView({ block: "nearest" });
}

// ---- submitting and following a job ------------------------------------------------

async function submit(event) {
  event.preventDefault();
  if (!state.model) return; // Generate is disabled until the card's limits are in the form
  clearErrors();
  if (state.images.some((image) => image.status === "uploading")) {
    showFieldError("image", "Wait until the images have finished uploading.");
    return;
  }
  if (state.images.some((image) => image.status === "error")) {
    showFieldError("image", "Remove the images that failed to upload.");
    return;
  }
  const button = $("generate");
  button.disabled = true;
  try {
    const job = await api("/v1/videos/generations", { method: "POST", json: requestBody() });
    follow(job);
  } catch (error) {
    showError(error);
    button.disabled = false;
  }
}

function describe(job) {
  const eta = job.eta_seconds === null || job.eta_seconds === undefined ? "" : ` — done in ${etaText(job.eta_seconds)}`;
  switch (job.status) {
    case "queued": return `Queued — position ${job.queue_position ?? "?"} in line${eta}`;
    case "running": return `Generating… ${job.progress}%${eta}`;
    case "completed": return "Done";
    case "failed": return `Failed: ${job.error?.message ?? "unknown error"}`;
    case "cancelled": return "Cancelled";
    default: return job.status;
  }
}

function showProgress(job) {
  state.job = job;
  $("job-panel").hidden = false;
  $("empty-output").hidden = true;
  $("job-status").textContent = describe(job);
  $("progress").value = job.progress;
  $("cancel-job").hidden = !["queued", "running"].includes(job.status);
  if (["completed", "failed", "cancelled"].includes(job.status)) finished(job);
}

/** Follow a job with its Server-Sent Events; fall back to polling if the stream breaks. */
function follow(job) {
  state.events?.close();
  $("result").hidden = true;
  showProgress(job);
  const events = new EventSource(`/v1/jobs/${encodeURIComponent(job.job_id)}/events`);
  state.events = events;
  events.addEventListener("job", (message) => showProgress(JSON.parse(message.data)));
  events.onerror = () => {
    events.close();
    if (state.job && !["completed", "failed", "cancelled"].includes(state.job.status)) poll(state.job.job_id);
  };
}

async function poll(jobId) {
  while (state.job?.job_id === jobId) {
    const job = await api(`/v1/jobs/${encodeURIComponent(jobId)}`);
    showProgress(job);
    if (["completed", "failed", "cancelled"].includes(job.status)) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function finished(job) {
  state.events?.close();
  state.events = null;
  $("generate").disabled = false;
  $("progress").value = job.status === "completed" ? 100 : $("progress").value;
  if (job.status === "completed") showResult(job);
  const seed = $("seed");
  if (job.result) {
    // Lock keeps a seed for the next video (the one used, if none was typed); unlocked, the next is random.
    if ($("seed-lock").checked) { if (!seed.value.trim()) seed.value = String(job.result.seed); }
    else seed.value = "";
  }
  render();
  scheduleQuote(true); // the balance and the measured speed have changed
  loadHistory();
  loadBalance();
}

function showResult(job) {
  const output = job.result.outputs[0];
  const player = $("player");
  player.poster = output.poster_url;
  player.src = output.url;
  player.dataset.jobId = job.job_id;
  state.lastSeed = job.result.seed;
  $("seed-used").textContent = String(job.result.seed);
  $("video-facts").textContent = `${output.duration} s · ${output.width}×${output.height} · ${output.fps} fps · `
    + (output.has_audio ? "with sound" : "no sound") + ` · ${(output.bytes / 1e6).toFixed(1)} MB`;
  $("job-cost").textContent = job.usage ? `${usd(job.usage.cost_usd)} (${job.usage.billed_seconds} s × ${usd(job.usage.unit_price_usd)}/s)` : "–";
  $("job-id").textContent = job.job_id;
  const download = $("download");
  download.href = output.url;
  download.setAttribute("download", `happyhorse-${job.job_id}.mp4`);
  $("poster-link").href = output.poster_url;
  $("result").hidden = false;
  $("empty-output").hidden = true;
}

// ---- history and balance --------------------------------------------------------------------

async function loadHistory() {
  const { data } = await api("/v1/jobs?limit=10");
  const items = data.map((job) => {
    const poster = job.result?.outputs?.[0]?.poster_url;
    const picture = poster ? el("img", { src: poster, alt: "", loading: "lazy" }) : el("span", { class: "no-poster" });
    const eta = job.eta_seconds === null || job.eta_seconds === undefined ? "" : ` · done in ${etaText(job.eta_seconds)}`;
    const meta = `${job.request.mode} · ${job.request.duration} s · ${job.request.resolution} · ${when(job.created_at)}${eta}`;
    // An ended job can be deleted (a queued or running one is cancelled first: the API answers 409).
    const remove = ENDED.includes(job.status)
      ? el("button", { type: "button", class: "delete-job", "aria-label": `Delete job: ${job.request.prompt}`,
                       title: "Delete this job and its files", onclick: () => deleteJob(job) }, "Delete")
      : null;
    return el("li", { "data-job-id": job.job_id },
      el("button", { type: "button", class: "open-job", onclick: () => openJob(job.job_id),
                     "aria-label": `Open job: ${job.request.prompt}` },
        picture,
        el("span", {}, el("span", { class: "prompt" }, job.request.prompt), el("br"),
           el("span", { class: "meta" }, meta)),
        el("span", { class: `badge ${job.status}` }, job.status)),
      remove);
  });
  $("history").replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, "No jobs yet.")]));
}

/** Confirm, DELETE /v1/jobs/{id}, then take it off the list (and out of the output panel). */
async function deleteJob(job) {
  if (!confirm(`Delete this job and its video? Its charge stays on your usage.\n\n${job.request.prompt}`)) return;
  try {
    await api(`/v1/jobs/${encodeURIComponent(job.job_id)}`, { method: "DELETE" });
  } catch (error) {
    toast(error.message);
    return;
  }
  document.querySelector(`#history li[data-job-id="${CSS.escape(job.job_id)}"]`)?.remove();
  if (!$("history").children.length) $("history").replaceChildren(el("li", { class: "muted" }, "No jobs yet."));
  if (state.job?.job_id === job.job_id) {
    state.job = null;
    $("player").removeAttribute("src");
    $("result").hidden = $("job-panel").hidden = true;
    $("empty-output").hidden = false;
  }
  toast("Job deleted");
}

async function openJob(jobId) {
  const job = await api(`/v1/jobs/${encodeURIComponent(jobId)}`);
  if (["queued", "running"].includes(job.status)) { follow(job); return; }
  state.events?.close();
  showProgress(job);
  if (job.status === "completed") showResult(job);
}

async function loadBalance() {
  try {
    const account = await api("/v1/account");
    $("balance-note").textContent = `Available: ${usd(account.available_usd)}`;
  } catch { /* the balance is a hint; the submit answers 402 if it is short */ }
}

// ---- wiring ---------------------------------------------------------------------------------

function setup() {
  setupDropzone();
  form.addEventListener("input", (event) => {
    if (event.target.id === "duration") $("duration-value").textContent = event.target.value;
    const field = fieldOf(event.target.name || event.target.id);
    if (field) clearError(field);
    render();
  });
  form.addEventListener("change", render);
  form.addEventListener("submit", submit);
  $("seed-random").addEventListener("click", () => {
    const seed = new Uint32Array(1);
    crypto.getRandomValues(seed);
    $("seed").value = String(seed[0] % 2147483648);
    clearError("seed");
    render();
  });
  $("reuse-seed").addEventListener("click", () => {
    if (state.lastSeed === null) return;
    $("seed").value = String(state.lastSeed);
    $("seed-lock").checked = true;
    render();
    toast(`Seed ${state.lastSeed} locked`);
  });
  $("cancel-job").addEventListener("click", async () => {
    if (!state.job) return;
    try { showProgress(await api(`/v1/jobs/${encodeURIComponent(state.job.job_id)}/cancel`, { method: "POST" })); }
    catch (error) { toast(error.message); }
  });
  $("copy-curl").addEventListener("click", () => copyText(curlText(requestBody())));
  $("copy-python").addEventListener("click", () => copyText(pythonText(requestBody())));
}

// Say which engine renders, so nobody mistakes the procedural preview for a neural model.
function showEngine(engine) {
  const note = $("engine-note");
  const kind = engine.neural ? "neural model" : "not a neural network";
  note.textContent = `Engine: ${engine.name} (${kind}) \u2014 ${engine.description}`;
  note.hidden = false;
}

/** The current choice if the card still offers it, else the card's first option. */
function keptChoice(current, values) { return values.includes(current) ? current : values[0]; }

/** Fit the form to the model card: every option and limit the server enforces comes from it. */
function applyModelRules(model) {
  // Typing past the limit is allowed, up to twice it: the counter turns red and the API explains.
  promptBox.maxLength = 2 * model.max_prompt_characters;
  $("max-images").textContent = String(model.max_images);
  $("last-character").textContent = `character${model.max_images}`;

  // Offered: the model's modes that the deployment's workers serve (served_modes; all of the
  // model's while no worker is registered). Auto may still resolve to one not served: the API says so.
  const servedModes = model.served_modes ?? model.modes;
  for (const radio of form.querySelectorAll('input[name="mode"]')) {
    const served = radio.value === "auto" || (model.modes.includes(radio.value) && servedModes.includes(radio.value));
    radio.disabled = !served;
    radio.hidden = form.querySelector(`label[for="${radio.id}"]`).hidden = !served;
    if (!served && radio.checked) $("mode-auto").checked = true;
  }

  const aspect = $("aspect_ratio");
  const ratio = keptChoice(aspect.value, model.aspect_ratios);
  aspect.replaceChildren(...model.aspect_ratios.map((value) => el("option", { value }, ASPECT_LABELS[value] ?? value)));
  aspect.value = ratio;

  const size = keptChoice(resolution(), model.resolutions);
  $("field-resolution").querySelector(".segmented").replaceChildren(...model.resolutions.flatMap((value) => [
    el("input", { type: "radio", name: "resolution", id: `res-${value}`, value, checked: value === size }),
    el("label", { for: `res-${value}` }, value),
  ]));

  const { min, max, step, default: initial } = model.duration;
  const duration = $("duration");
  Object.assign(duration, { min: String(min), max: String(max), step: String(step), value: String(initial) });
  $("duration-value").textContent = duration.value;
}

async function start() {
  setup();
  render();
  const others = Promise.all([loadHistory(), loadBalance()]);
  let models;
  try {
    models = await api("/v1/models");
  } catch (error) {
    showError(new Error(`The page could not load the model's limits (${error.message}); reload it to try again.`));
    return; // Generate stays disabled
  }
  state.model = models.data[0];
  applyModelRules(state.model);
  showEngine(state.model.engine);
  $("generate").disabled = false;
  render();
  await others;
  document.body.dataset.ready = "true"; // for tests and for people: the page is live, with the card's limits
}

start();
