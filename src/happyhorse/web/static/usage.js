// Usage page: balance and holds (GET /v1/account), spend per day (from the ledger's
// captures, drawn as an inline SVG), the jobs with their cost (GET /v1/jobs) and the ledger.
import { api, el, fillTable, multiplyUsd, usd, when } from "./common.js";

const SVG = "http://www.w3.org/2000/svg";
const DAYS = 30;

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** Whole micro-dollars of a decimal string, as a BigInt: sums stay exact. */
function micros(amount) {
  const negative = amount.startsWith("-");
  const [whole, frac = ""] = amount.replace("-", "").split(".");
  const value = BigInt(whole) * 1000000n + BigInt((frac + "000000").slice(0, 6));
  return negative ? -value : value;
}

function fromMicros(value) { return multiplyUsd(`${value / 1000000n}.${(value % 1000000n).toString().padStart(6, "0")}`, 1); }

function dayKey(date) { return date.toISOString().slice(0, 10); } // UTC day, like the ledger's month

/** Spend per UTC day over the last DAYS days, from the ledger's capture entries. */
function spendPerDay(entries) {
  const days = new Map();
  const today = new Date();
  for (let i = DAYS - 1; i >= 0; i--) {
    days.set(dayKey(new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i))), 0n);
  }
  for (const entry of entries) {
    const day = dayKey(new Date(entry.created_at));
    if (entry.kind === "capture" && days.has(day)) days.set(day, days.get(day) - micros(entry.amount_usd));
  }
  return [...days.entries()];
}

function drawChart(points) {
  const width = 760, height = 220, left = 48, bottom = 28, top = 12;
  const max = points.reduce((m, [, v]) => (v > m ? v : m), 0n);
  const scaleMax = max > 0n ? Number(max) / 1e6 : 1;
  const plotHeight = height - bottom - top;
  const step = (width - left - 8) / points.length;
  const total = points.reduce((sum, [, v]) => sum + v, 0n);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
                             "aria-labelledby": "chart-svg-title chart-svg-desc" },
    svg("title", { id: "chart-svg-title" }, "Spend per day"),
    svg("desc", { id: "chart-svg-desc" }, `Last ${DAYS} days: ${usd(fromMicros(total))} in total.`));
  for (const fraction of [0, 0.5, 1]) {
    const y = top + plotHeight * (1 - fraction);
    chart.append(svg("line", { class: "axis", x1: left, x2: width - 4, y1: y, y2: y }),
                 svg("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, `$${(scaleMax * fraction).toFixed(2)}`));
  }
  points.forEach(([day, value], index) => {
    const dollars = Number(value) / 1e6;
    const barHeight = Math.max(value > 0n ? 2 : 0, (dollars / scaleMax) * plotHeight);
    const x = left + index * step + step * 0.15;
    const bar = svg("rect", { class: "bar", x, y: top + plotHeight - barHeight, width: step * 0.7, height: barHeight,
                              rx: 2, "data-day": day, "data-usd": fromMicros(value) },
                    svg("title", {}, `${day}: ${usd(fromMicros(value))}`));
    chart.append(bar);
    if (index % 5 === 4 || index === points.length - 1) {
      chart.append(svg("text", { x: x + step * 0.35, y: height - 8, "text-anchor": "middle" }, day.slice(5)));
    }
  });
  document.getElementById("chart").replaceChildren(chart);
}

async function loadJobs() {
  // Up to 300 of the newest jobs, following the API's cursor.
  const jobs = [];
  let after = null;
  for (let page = 0; page < 3; page++) {
    const list = await api(`/v1/jobs?limit=100${after ? `&after=${encodeURIComponent(after)}` : ""}`);
    jobs.push(...list.data);
    if (!list.has_more) break;
    after = list.last_id;
  }
  const rows = jobs.map((job) => el("tr", { "data-job-id": job.job_id },
    el("td", {}, when(job.created_at)),
    el("td", {}, el("code", {}, job.job_id)),
    el("td", {}, job.request.mode),
    el("td", {}, `${job.request.duration} s · ${job.request.resolution}`),
    el("td", {}, el("span", { class: `badge ${job.status}` }, job.status)),
    el("td", { class: "num job-cost" }, job.usage ? usd(job.usage.cost_usd) : el("span", { class: "muted" }, "—"))));
  fillTable(document.querySelector("#jobs-table tbody"), rows, "No jobs yet.", 6);
}

async function load() {
  const [account, ledger] = await Promise.all([api("/v1/account"), api("/dashboard/api/ledger?limit=1000")]);
  document.getElementById("balance").textContent = usd(account.balance_usd);
  document.getElementById("held").textContent = usd(account.held_usd);
  document.getElementById("held-detail").textContent =
    `${account.pending_holds} unfinished job${account.pending_holds === 1 ? "" : "s"}`;
  document.getElementById("available").textContent = usd(account.available_usd);
  document.getElementById("spent-month").textContent = usd(account.spent_this_month_usd);
  document.getElementById("month").textContent = account.month;
  document.getElementById("balances").dataset.balanceUsd = account.balance_usd;

  drawChart(spendPerDay(ledger.data));
  const rows = ledger.data.map((entry) => el("tr", { "data-kind": entry.kind },
    el("td", {}, when(entry.created_at)),
    el("td", {}, entry.kind),
    el("td", { class: "num" }, usd(entry.amount_usd)),
    el("td", { class: "num" }, usd(entry.balance_after_usd)),
    el("td", {}, entry.job_id ? el("code", {}, entry.job_id) : "—"),
    el("td", {}, entry.memo ?? "")));
  fillTable(document.querySelector("#ledger-table tbody"), rows, "No entries yet.", 6);
  await loadJobs();
  document.body.dataset.ready = "true";
}

load();
