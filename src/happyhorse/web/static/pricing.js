// Pricing page: the rates from GET /v1/models, a duration × resolution calculator and the full grid.
import { api, el, multiplyUsd, usd } from "./common.js";

const $ = (id) => document.getElementById(id);

async function start() {
  const { data } = await api("/v1/models");
  const model = data[0];
  const prices = model.pricing.per_second;
  const resolutions = Object.keys(prices);
  const { min, max, default: initial } = model.duration;

  $("rates").replaceChildren(...resolutions.map((res) => el("div", { class: "stat card" },
    el("h2", {}, res),
    el("p", { class: "big-number" }, `${usd(prices[res])}`, el("span", { class: "muted small" }, " per second")),
    el("p", { class: "muted" }, `${usd(multiplyUsd(prices[res], min))} for ${min} s · ${usd(multiplyUsd(prices[res], max))} for ${max} s`))));

  // Calculator
  const duration = $("calc-duration");
  duration.min = String(min); duration.max = String(max); duration.value = String(initial);
  $("calc-resolutions").replaceChildren(...resolutions.flatMap((res, i) => [
    el("input", { type: "radio", name: "calc-res", id: `calc-res-${res}`, value: res, checked: i === 0 }),
    el("label", { for: `calc-res-${res}` }, res)]));
  const update = () => {
    const res = document.querySelector('input[name="calc-res"]:checked').value;
    const count = Math.max(1, Math.floor(Number($("calc-count").value) || 1));
    const seconds = Number(duration.value);
    $("calc-duration-value").textContent = duration.value;
    $("calc-total").textContent = usd(multiplyUsd(prices[res], seconds * count));
    $("calc-detail").textContent = `${count} × ${seconds} s × ${usd(prices[res])}/s`;
  };
  $("calculator").addEventListener("input", update);
  $("calculator").addEventListener("submit", (event) => event.preventDefault());
  update();

  // Grid of every duration
  const grid = $("price-grid");
  grid.tHead.replaceChildren(el("tr", {}, el("th", { scope: "col" }, "Duration"),
    ...resolutions.map((res) => el("th", { scope: "col", class: "num" }, res))));
  const rows = [];
  for (let seconds = min; seconds <= max; seconds++) {
    rows.push(el("tr", {}, el("th", { scope: "row" }, `${seconds} s`),
      ...resolutions.map((res) => el("td", { class: "num" }, usd(multiplyUsd(prices[res], seconds))))));
  }
  grid.tBodies[0].replaceChildren(...rows);
  document.body.dataset.ready = "true";
}

start();
