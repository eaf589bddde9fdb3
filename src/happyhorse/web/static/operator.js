// Operator page: every account with its money, and credit grants (billing's grant, as the CLI does).
import { api, el, fillTable, usd, when } from "./common.js";

const $ = (id) => document.getElementById(id);

async function load() {
  const { data } = await api("/dashboard/api/operator/accounts");
  const select = $("grant-account");
  const chosen = select.value;
  select.replaceChildren(...data.map((account) => el("option", { value: account.id }, account.name)));
  if (chosen) select.value = chosen;
  const rows = data.map((account) => el("tr", { "data-account-id": account.id },
    el("td", {}, account.name),
    el("td", {}, account.users.join(", ") || el("span", { class: "muted" }, "API only")),
    el("td", {}, when(account.created_at)),
    el("td", { class: "num" }, usd(account.balance_usd)),
    el("td", { class: "num" }, usd(account.held_usd)),
    el("td", { class: "num" }, usd(account.available_usd))));
  fillTable(document.querySelector("#accounts-table tbody"), rows, "No accounts.", 6);
  document.body.dataset.ready = "true";
}

$("grant-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("err-amount_usd");
  error.hidden = true;
  $("grant-amount").removeAttribute("aria-invalid");
  try {
    const granted = await api(`/dashboard/api/operator/accounts/${encodeURIComponent($("grant-account").value)}/grants`, {
      method: "POST", json: { amount_usd: $("grant-amount").value, memo: $("grant-memo").value || null } });
    $("grant-result").textContent = `Granted ${usd(granted.granted_usd)} to ${granted.name}; balance ${usd(granted.balance_usd)}.`;
    event.target.reset();
    await load();
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
    $("grant-amount").setAttribute("aria-invalid", "true");
    $("grant-amount").focus();
  }
});

load();
