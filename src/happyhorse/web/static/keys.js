// API keys page: create (the key is shown once, with a copy button), list, revoke.
import { api, copyText, el, fillTable, toast, when } from "./common.js";

const tbody = document.querySelector("#keys-table tbody");
const form = document.getElementById("create-key-form");
const errorBox = document.getElementById("create-key-error");
const newKey = document.getElementById("new-key");
const newKeyValue = document.getElementById("new-key-value");

function keyRow(key) {
  const status = key.active ? el("span", { class: "badge ok" }, "active") : el("span", { class: "badge revoked" }, "revoked");
  const revoke = key.active
    ? el("button", { type: "button", class: "button subtle danger", "data-key-id": key.id,
                     "aria-label": `Revoke key ${key.prefix}…`, onclick: () => revokeKey(key) }, "Revoke")
    : "";
  return el("tr", { "data-key-id": key.id },
    el("td", {}, el("code", {}, `${key.prefix}…`)),
    el("td", {}, key.name ?? el("span", { class: "muted" }, "—")),
    el("td", {}, when(key.created_at)),
    el("td", {}, key.last_used_at ? when(key.last_used_at) : el("span", { class: "muted" }, "never")),
    el("td", {}, status),
    el("td", { class: "num" }, revoke));
}

async function load() {
  const { data } = await api("/dashboard/api/keys");
  fillTable(tbody, data.map(keyRow), "No keys yet: create one above.", 6);
}

async function revokeKey(key) {
  // A revoked key stops working at once for every program using it: ask first.
  if (!confirm(`Revoke ${key.prefix}…? Programs using it will get 401 from now on.`)) return;
  await api(`/dashboard/api/keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
  toast("Key revoked");
  await load();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  errorBox.hidden = true;
  const button = document.getElementById("create-key");
  button.disabled = true;
  try {
    const created = await api("/dashboard/api/keys", { method: "POST", json: { name: form.name.value || null } });
    newKeyValue.value = created.key;
    newKey.hidden = false;
    newKeyValue.focus();
    newKeyValue.select();
    form.reset();
    await load();
  } catch (error) {
    errorBox.textContent = error.message;
    errorBox.hidden = false;
  } finally {
    button.disabled = false;
  }
});

document.getElementById("copy-key").addEventListener("click", () => copyText(newKeyValue.value));

load();
