// Webhooks page: the account's endpoints on the public /v1/webhook_endpoints API — add one (its signing
// secret shown once, with a copy button), enable/disable, rotate the secret, send a test event, delete —
// and one endpoint's recent deliveries, each with Redeliver.
import { api, ApiError, copyText, el, fillTable, toast, when } from "./common.js";

const $ = (id) => document.getElementById(id);
const BASE = "/v1/webhook_endpoints";
const form = $("create-endpoint-form");
const endpointsBody = document.querySelector("#endpoints-table tbody");
const deliveriesBody = document.querySelector("#deliveries-table tbody");
// The form's fields, as the API names them in error.param, and the control that takes the focus.
const FIELDS = { name: "#endpoint-name", url: "#endpoint-url", event_types: "#event-types input" };
const OPT_IN = new Set(["video.started"]); // SPEC §10: sent only to endpoints that ask for it
let shown = null; // the endpoint whose deliveries are on screen
let refreshTimer = null;

const path = (id, rest = "") => `${BASE}/${encodeURIComponent(id)}${rest}`;
const labelOf = (endpoint) => endpoint.name || endpoint.url;
/** The webhook API's times are Unix seconds. */
const at = (seconds) => when(seconds ? seconds * 1000 : null);

/** A status line above a table (#endpoints-status by default): what the last action did, or why it failed. */
function say(text, ok = true, line = "endpoints-status") {
  $(line).textContent = text;
  $(line).classList.toggle("bad", !ok);
}

/** Run an action from a button: disabled meanwhile, an API error said in its table's status line. */
async function act(button, action, line = "endpoints-status") {
  button.disabled = true;
  try {
    await action();
  } catch (error) {
    say(error.message, false, line);
  } finally {
    button.disabled = false;
  }
}

// ---- event types: the API's own list ------------------------------------------------------

async function loadEventTypes() {
  const { data: types } = await api("/v1/webhook_event_types");
  $("event-types").replaceChildren(...types.map((type) => el("label", { class: "check" },
    el("input", { type: "checkbox", name: "event_types", value: type, checked: !OPT_IN.has(type) }), type)));
}

// ---- endpoints ----------------------------------------------------------------------------

function endpointRow(endpoint) {
  const label = labelOf(endpoint);
  const enabled = endpoint.status === "enabled";
  const button = (action, text, ariaLabel, onclick, danger = false) => el("button", {
    type: "button", class: `button subtle${danger ? " danger" : ""}`, "data-action": action,
    "aria-label": ariaLabel, onclick: (event) => act(event.currentTarget, onclick) }, text);
  return el("tr", { "data-endpoint-id": endpoint.id, "data-status": endpoint.status },
    el("td", {}, endpoint.name || el("span", { class: "muted" }, "—")),
    el("td", {}, el("code", { class: "url" }, endpoint.url)),
    el("td", { class: "events" }, endpoint.event_types.join(", ")),
    el("td", { class: "status" }, el("span", { class: `badge ${enabled ? "ok" : "bad"}` }, endpoint.status),
      endpoint.disabled_reason ? el("div", { class: "muted small reason" }, endpoint.disabled_reason) : null),
    el("td", {}, at(endpoint.created_at)),
    el("td", { class: "num actions" },
      button("deliveries", "Deliveries", `Deliveries of ${label}`, () => showDeliveries(endpoint)),
      button("test", "Send test", `Send a test event to ${label}`, () => sendTest(endpoint)),
      button("toggle", enabled ? "Disable" : "Enable", `${enabled ? "Disable" : "Enable"} ${label}`,
             () => setEnabled(endpoint, !enabled)),
      button("rotate", "Rotate secret", `Rotate the signing secret of ${label}`, () => rotate(endpoint)),
      button("delete", "Delete", `Delete ${label}`, () => remove(endpoint), true)));
}

async function load() {
  const { data } = await api(`${BASE}?limit=100`);
  fillTable(endpointsBody, data.map(endpointRow), "No endpoints yet: add one above.", 6);
  const current = shown && data.find((endpoint) => endpoint.id === shown.id);
  if (shown && !current) hideDeliveries();
  else if (current) shown = current;
}

async function sendTest(endpoint) {
  const type = endpoint.event_types[0];
  try {
    const answer = await api(path(endpoint.id, "/test"), { method: "POST", json: { event_type: type } });
    const ok = answer.status_code >= 200 && answer.status_code < 300;
    say(`Test ${type} event to ${labelOf(endpoint)}: HTTP ${answer.status_code}, `
        + (ok ? "received." : "not a 2xx answer (a real event would be retried)."), ok);
  } catch (error) {
    say(`Test event to ${labelOf(endpoint)} not delivered: ${error.message}`, false);
  }
}

async function setEnabled(endpoint, enabled) {
  await api(path(endpoint.id), { method: "POST", json: { enabled } });
  say(`${labelOf(endpoint)} ${enabled ? "enabled" : "disabled"}.`);
  await load();
}

async function rotate(endpoint) {
  // The old secret stops at once: the receiver refuses every event until it has the new one.
  if (!confirm(`Rotate the signing secret of ${labelOf(endpoint)}? The old secret stops working at once.`)) return;
  const rotated = await api(path(endpoint.id, "/rotate_secret"), { method: "POST", json: {} });
  showSecret(rotated);
  say(`New signing secret for ${labelOf(endpoint)}.`);
}

async function remove(endpoint) {
  if (!confirm(`Delete ${labelOf(endpoint)}? No more events are sent to it, and its deliveries are forgotten.`)) return;
  await api(path(endpoint.id), { method: "DELETE" });
  say(`${labelOf(endpoint)} deleted.`);
  await load();
}

function showSecret(endpoint) {
  $("new-secret-for").textContent = labelOf(endpoint);
  $("new-secret-value").value = endpoint.signing_secret;
  $("new-secret").hidden = false;
  $("new-secret-value").focus();
  $("new-secret-value").select();
}

// ---- deliveries -------------------------------------------------------------------------------

const DELIVERY_BADGES = { delivered: "ok", pending: "queued", failed: "bad", disabled: "bad" };

function deliveryRow(endpoint, delivery) {
  const response = delivery.last_response_code ? `HTTP ${delivery.last_response_code}` : "–";
  return el("tr", { "data-delivery-id": delivery.id, "data-event-id": delivery.event_id, "data-status": delivery.status },
    el("td", {}, delivery.event_type),
    el("td", {}, delivery.job_id ? el("code", {}, delivery.job_id) : "–"),
    el("td", { class: "status" }, el("span", { class: `badge ${DELIVERY_BADGES[delivery.status] ?? ""}` }, delivery.status)),
    el("td", { class: "num attempts" }, delivery.attempts),
    el("td", { class: "response" }, response,
      delivery.last_error ? el("div", { class: "muted small" }, delivery.last_error) : null),
    el("td", {}, delivery.status === "pending" ? at(delivery.next_attempt_at) : "–"),
    el("td", {}, at(delivery.created_at)),
    el("td", { class: "num" }, el("button", {
      type: "button", class: "button subtle", "data-action": "redeliver",
      "aria-label": `Redeliver ${delivery.event_type} event ${delivery.event_id}`,
      onclick: (event) => act(event.currentTarget, () => redeliver(endpoint, delivery), "deliveries-status") },
      "Redeliver")));
}

async function loadDeliveries() {
  clearTimeout(refreshTimer);
  const endpoint = shown;
  if (!endpoint) return;
  const { data } = await api(path(endpoint.id, "/deliveries?limit=50"));
  if (shown !== endpoint) return; // another endpoint was chosen meanwhile
  fillTable(deliveriesBody, data.map((delivery) => deliveryRow(endpoint, delivery)),
            "No deliveries yet: they are listed once a job sends an event (test events are not).", 8);
  // A delivery due within seconds: look again shortly, to show how it went.
  const soon = Date.now() / 1000 + 30;
  if (data.some((delivery) => delivery.status === "pending" && delivery.next_attempt_at <= soon)) {
    refreshTimer = setTimeout(() => loadDeliveries().catch(() => {}), 1500);
  }
}

async function showDeliveries(endpoint) {
  shown = endpoint;
  say("", true, "deliveries-status");
  $("deliveries-of").textContent = labelOf(endpoint);
  $("deliveries").hidden = false;
  await loadDeliveries();
  $("deliveries").scrollIntoView({ block: "nearest" });
}

function hideDeliveries() {
  shown = null;
  clearTimeout(refreshTimer);
  $("deliveries").hidden = true;
}

async function redeliver(endpoint, delivery) {
  await api(path(endpoint.id, `/deliveries/${encodeURIComponent(delivery.id)}/redeliver`), { method: "POST" });
  say(`${delivery.event_type} event ${delivery.event_id} queued again.`, true, "deliveries-status");
  await loadDeliveries();
}

// ---- the form: errors beside the field named by error.param ------------------------------

function clearErrors() {
  $("form-error").hidden = true;
  for (const field of Object.keys(FIELDS)) {
    $(`err-${field}`).hidden = true;
    $(`field-${field}`).removeAttribute("aria-invalid");
    form.querySelector(FIELDS[field])?.removeAttribute("aria-invalid");
  }
}

function showError(error) {
  const field = error instanceof ApiError && Object.hasOwn(FIELDS, error.param ?? "") ? error.param : null;
  if (!field) {
    $("form-error").textContent = error.message;
    $("form-error").hidden = false;
    return;
  }
  const box = $(`err-${field}`);
  box.textContent = error.message;
  box.hidden = false;
  $(`field-${field}`).setAttribute("aria-invalid", "true");
  const control = form.querySelector(FIELDS[field]);
  control?.setAttribute("aria-invalid", "true");
  control?.focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  const button = $("create-endpoint");
  button.disabled = true;
  try {
    const created = await api(BASE, { method: "POST", json: {
      name: $("endpoint-name").value.trim(),
      url: $("endpoint-url").value.trim(),
      event_types: [...form.querySelectorAll('input[name="event_types"]:checked')].map((box) => box.value),
    } });
    showSecret(created);
    form.reset();
    toast("Endpoint added");
    await load();
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
});

$("copy-secret").addEventListener("click", () => copyText($("new-secret-value").value));
$("refresh-deliveries").addEventListener("click", (event) => act(event.currentTarget, loadDeliveries, "deliveries-status"));

Promise.allSettled([
  loadEventTypes().catch((error) => showError(new Error(`The event types could not be loaded: ${error.message}`))),
  load().catch((error) => say(error.message, false)),
]).then(() => { document.body.dataset.ready = "true"; });
