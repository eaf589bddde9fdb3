// Shared helpers of the dashboard pages: API calls with the session, money, dates, copying.
// The pages call the public /v1 API with the session cookie (the server turns it into
// the session's API key) and send the CSRF token on every state-changing call.

/** The page's CSRF token, rendered by the server into <meta name="csrf-token">. */
export const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

/** An error answered by the API, with the fields of its error envelope. */
export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `request failed (${status})`);
    this.status = status;
    this.code = error?.code ?? "unknown";
    this.param = error?.param ?? null;
    this.requestId = error?.request_id ?? null;
  }
}

/**
 * fetch() for the API: JSON in and out, the CSRF header on non-GET calls,
 * and a thrown ApiError for any non-2xx answer. A 401 means the session
 * ended (signed out elsewhere or expired): go back to the sign-in page.
 */
export async function api(path, { method = "GET", json, body, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrfToken;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    if (response.status === 401 && !path.startsWith("/signin")) {
      location.href = `/signin?next=${encodeURIComponent(location.pathname)}`;
    }
    throw new ApiError(response.status, data?.error);
  }
  return data;
}

/** "12.5" → "$12.50"; amounts stay strings from the API, so no float rounding creeps in for display. */
export function usd(amount) {
  if (amount === null || amount === undefined) return "–";
  const text = String(amount);
  const negative = text.startsWith("-");
  const [whole, frac = ""] = text.replace("-", "").split(".");
  const cents = (frac + "00").slice(0, Math.max(2, frac.replace(/0+$/, "").length));
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "−" : ""}$${grouped}.${cents}`;
}

/** Exact decimal multiplication for prices: "0.14" × 5 → "0.70" (in integer micro-dollars). */
export function multiplyUsd(price, times) {
  const [whole, frac = ""] = String(price).split(".");
  const micros = BigInt(whole) * 1000000n + BigInt((frac + "000000").slice(0, 6));
  const total = micros * BigInt(times);
  const dollars = total / 1000000n;
  const rest = (total % 1000000n).toString().padStart(6, "0").replace(/0+$/, "");
  return `${dollars}.${rest.padEnd(2, "0")}`;
}

/** An ISO time from the API as a short local date and time (or "–"). */
export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** Build an element: el("td", {class: "num"}, "text", child...). Text is never parsed as HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace a table body's rows, or show one muted row with `empty` when there are none. */
export function fillTable(tbody, rows, empty, columns) {
  tbody.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: columns, class: "muted" }, empty))]));
}

/** A short message at the bottom of the screen, read out by screen readers. */
export function toast(message) {
  const box = document.getElementById("toast");
  if (!box) return;
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 2500);
}

/** Copy text to the clipboard; falls back to a hidden textarea where the Clipboard API is refused. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = el("textarea", { "aria-hidden": "true" });
    // Set through CSSOM: the pages' Content-Security-Policy refuses inline style attributes.
    area.style.position = "fixed";
    area.style.opacity = "0";
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  toast("Copied to the clipboard");
}
