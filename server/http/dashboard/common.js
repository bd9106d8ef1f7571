// optd dashboard: what every page shares. The API client (bearer token from
// this tab's sessionStorage, sent only in the Authorization header), number
// and time formatting for protobuf's JSON mapping, and DOM helpers.
"use strict";

const optd = (window.optd = window.optd || {});

optd.TOKEN_KEY = "optd.token";

// An API error: the JSON error body's code and message, and the HTTP status.
optd.ApiError = class extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
};

// GET /api/v1<path> with `params` (an object; arrays repeat the parameter).
// Resolves to the parsed body; rejects with optd.ApiError. A 401 shows the
// token form and resolves only once a token works (the caller simply waits).
optd.api = async function (path, params, options) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) query.append(name, v);
  }
  const qs = query.toString();
  const url = "../api/v1" + path + (qs ? "?" + qs : "");
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(optd.TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(url, {
    headers,
    cache: "no-store",
    signal: options && options.signal,
  });
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    body = null;
  }
  if (response.ok) return body;
  const error = (body && body.error) || {};
  if (response.status === 401) {
    await optd.askForToken(error.message || "This optd asks for a bearer token.");
    return optd.api(path, params, options);
  }
  throw new optd.ApiError(response.status, error.code || String(response.status),
                          error.message || response.statusText);
};

// Shows the token form and resolves when the user submits one. Concurrent
// callers share one prompt.
optd.askForToken = function (reason) {
  if (optd.tokenPromise) return optd.tokenPromise;
  const form = document.getElementById("token-form");
  const input = document.getElementById("token-input");
  document.getElementById("token-reason").textContent = reason;
  document.getElementById("app").hidden = true;
  form.hidden = false;
  input.value = "";
  input.focus();
  optd.tokenPromise = new Promise((resolve) => {
    form.onsubmit = (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      sessionStorage.setItem(optd.TOKEN_KEY, token);
      form.hidden = true;
      document.getElementById("app").hidden = false;
      optd.showSignOut();
      optd.tokenPromise = null;
      resolve();
    };
  });
  return optd.tokenPromise;
};

optd.showSignOut = function () {
  const button = document.getElementById("token-button");
  button.hidden = !sessionStorage.getItem(optd.TOKEN_KEY);
  button.onclick = () => {
    sessionStorage.removeItem(optd.TOKEN_KEY);
    location.reload();
  };
};

// Numbers of protobuf's JSON mapping: 64-bit integers come as strings and
// non-finite doubles as "NaN", "Infinity", "-Infinity".
optd.num = function (v) {
  if (v === undefined || v === null || v === "") return NaN;
  if (typeof v === "number") return v;
  if (v === "Infinity" || v === "+Inf") return Infinity;
  if (v === "-Infinity" || v === "-Inf") return -Infinity;
  return Number(v);
};

optd.fmt = function (v, digits) {
  const x = optd.num(v);
  if (Number.isNaN(x)) return "—";
  if (!Number.isFinite(x)) return x > 0 ? "∞" : "−∞";
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return x.toLocaleString("en-US");
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return x.toExponential(digits || 4);
  return x.toPrecision(digits || 6).replace(/\.?0+$/, "");
};

optd.bytes = function (v) {
  let x = optd.num(v);
  if (!Number.isFinite(x)) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (Math.abs(x) >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  return (u === 0 ? x.toFixed(0) : x.toFixed(1)) + " " + units[u];
};

// "SESSION_STATE_RUNNING" -> "RUNNING".
optd.stateName = function (state) {
  return String(state || "").replace(/^SESSION_STATE_/, "");
};

optd.time = function (rfc3339) {
  if (!rfc3339) return "—";
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime()) || d.getTime() <= 0) return "—";
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
};

// Element factory: optd.el("td", {class: "num", title: "..."}, child, ...).
// Children are nodes or strings (as text: never parsed as HTML).
optd.el = function (tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
};

optd.errorBox = function (error) {
  const code = error && error.code ? error.code + ": " : "";
  return optd.el("p", { class: "error" }, code + (error && error.message ? error.message : String(error)));
};

optd.setLive = function (on, text) {
  const live = document.getElementById("live");
  live.classList.toggle("on", !!on);
  live.textContent = text || (on ? "live" : "");
};

// A key/value list of the fields of a JSON object (nested objects as JSON).
optd.facts = function (object, skip) {
  const dl = optd.el("dl", { class: "facts" });
  for (const [key, value] of Object.entries(object || {})) {
    if (skip && skip.includes(key)) continue;
    const shown = typeof value === "object" ? JSON.stringify(value) : String(value);
    dl.append(optd.el("dt", {}, key), optd.el("dd", {}, shown));
  }
  return dl;
};

// Sleeps `ms`, or until `signal` aborts.
optd.sleep = function (ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); });
  });
};
