// optd dashboard: the session list (#/sessions). One page of ListSessions
// at a time (GET /api/v1/sessions), filtered by state and labels on the
// server, sorted on this page by any column, refreshed every few seconds.
"use strict";

optd.LIST_REFRESH_MS = 2000;

optd.STATES = ["RUNNING", "CONVERGED", "LIMIT_REACHED", "FAILED", "STOPPED", "DAMAGED"];

optd.LIST_COLUMNS = [
  { key: "id", title: "Session", value: (s) => s.sessionId },
  { key: "state", title: "State", value: (s) => optd.stateName(s.state) },
  { key: "solver", title: "Solver", value: (s) => s.solver },
  { key: "dimension", title: "n", num: true, value: (s) => optd.num(s.dimension) },
  { key: "iterations", title: "Iterations", num: true, value: (s) => optd.num(s.iterations) },
  { key: "evaluations", title: "Evaluations", num: true, value: (s) => optd.num(s.evaluations) },
  { key: "best", title: "Best value", num: true, value: (s) => optd.num(s.bestValue) },
  { key: "grad", title: "max |g|", num: true, value: (s) => optd.num(s.gradientMaxNorm) },
  { key: "labels", title: "Labels", value: (s) => Object.entries(s.labels || {}).map(([k, v]) => k + ":" + v).join(" ") },
  { key: "updated", title: "Updated", value: (s) => s.updateTime || "" },
];

// `query`: the hash's parameters (state, label, page_size).
optd.showSessionList = function (root, query, signal) {
  const view = {
    state: query.get("state") || "",
    labels: query.getAll("label"),
    pageSize: query.get("page_size") || "100",
    tokens: [""], // page tokens of the pages before, "" for the first
    sortKey: query.get("sort") || "id",
    sortDesc: query.get("order") === "desc",
    sessions: [],
    next: "",
  };
  const stateSelect = optd.el("select", { id: "filter-state" },
    optd.el("option", { value: "" }, "any"),
    optd.STATES.map((s) => optd.el("option", { value: s, selected: s === view.state }, s)));
  const labelInput = optd.el("input", { id: "filter-label", placeholder: "key:value, key2:value2", value: view.labels.join(", ") });
  const sizeSelect = optd.el("select", { id: "filter-page-size" },
    ["25", "100", "500", "1000"].map((n) => optd.el("option", { value: n, selected: n === view.pageSize }, n)));
  const applyButton = optd.el("button", { id: "filter-apply", type: "submit" }, "Apply");
  const form = optd.el("form", { class: "filters", id: "filters" },
    optd.el("label", {}, "State", stateSelect),
    optd.el("label", {}, "Labels (all must match)", labelInput),
    optd.el("label", {}, "Per page", sizeSelect),
    applyButton);
  const status = optd.el("p", { class: "muted", id: "list-status" });
  const table = optd.el("table", { id: "sessions" });
  const prev = optd.el("button", { id: "page-prev", type: "button" }, "← Previous");
  const next = optd.el("button", { id: "page-next", type: "button" }, "Next →");
  const pageInfo = optd.el("span", { class: "muted", id: "page-info" });
  root.append(optd.el("h1", {}, "Sessions"), form, status, table,
              optd.el("div", { class: "pager" }, prev, pageInfo, next),
              optd.el("p", { class: "muted" },
                "Pages follow session ids, as ListSessions pages them; a column heading sorts the page shown."));

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    if (stateSelect.value) params.set("state", stateSelect.value);
    for (const label of labelInput.value.split(",").map((l) => l.trim()).filter(Boolean)) {
      params.append("label", label);
    }
    if (sizeSelect.value !== "100") params.set("page_size", sizeSelect.value);
    const qs = params.toString();
    location.hash = "#/sessions" + (qs ? "?" + qs : "");
  });
  prev.addEventListener("click", () => {
    if (view.tokens.length > 1) {
      view.tokens.pop();
      load();
    }
  });
  next.addEventListener("click", () => {
    if (view.next) {
      view.tokens.push(view.next);
      load();
    }
  });

  function render() {
    const column = optd.LIST_COLUMNS.find((c) => c.key === view.sortKey) || optd.LIST_COLUMNS[0];
    const rows = view.sessions.slice().sort((a, b) => {
      const x = column.value(a);
      const y = column.value(b);
      let c;
      if (column.num) {
        // NaN (unknown) sorts last either way.
        if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) - Number.isNaN(y);
        c = x - y;
      } else {
        c = String(x).localeCompare(String(y));
      }
      return view.sortDesc ? -c : c;
    });
    const head = optd.el("tr", {}, optd.LIST_COLUMNS.map((c) => {
      const classes = ["sortable", c.num ? "num" : ""];
      if (c.key === view.sortKey) classes.push(view.sortDesc ? "sorted-desc" : "sorted-asc");
      return optd.el("th", {
        class: classes.join(" ").trim(), "data-key": c.key,
        onclick: () => {
          view.sortDesc = c.key === view.sortKey ? !view.sortDesc : false;
          view.sortKey = c.key;
          render();
        },
      }, c.title);
    }));
    const body = rows.map((s) => {
      const state = optd.stateName(s.state);
      return optd.el("tr", { "data-session": s.sessionId },
        optd.el("td", {}, optd.el("a", { href: "#/session/" + encodeURIComponent(s.sessionId) }, s.sessionId)),
        optd.el("td", {}, optd.el("span", { class: "state state-" + state }, state)),
        optd.el("td", {}, s.solver),
        optd.el("td", { class: "num" }, optd.fmt(s.dimension)),
        optd.el("td", { class: "num" }, optd.fmt(s.iterations)),
        optd.el("td", { class: "num" }, optd.fmt(s.evaluations)),
        optd.el("td", { class: "num" }, optd.fmt(s.bestValue)),
        optd.el("td", { class: "num" }, optd.fmt(s.gradientMaxNorm, 3)),
        optd.el("td", {}, Object.entries(s.labels || {}).sort().map(([k, v]) => optd.el("span", { class: "label" }, k + ":" + v))),
        optd.el("td", {}, optd.time(s.updateTime)));
    });
    table.replaceChildren(optd.el("thead", {}, head), optd.el("tbody", {}, body));
    prev.disabled = view.tokens.length <= 1;
    next.disabled = !view.next;
    pageInfo.textContent = "page " + view.tokens.length;
  }

  async function load() {
    try {
      const body = await optd.api("/sessions", {
        state: view.state, label: view.labels, page_size: view.pageSize,
        page_token: view.tokens[view.tokens.length - 1],
      }, { signal });
      view.sessions = body.sessions || [];
      view.next = body.nextPageToken || "";
      status.textContent = view.sessions.length + " session(s) on this page" +
        (view.next ? "; more on the next" : "") + " · updated " + new Date().toLocaleTimeString();
      status.classList.remove("error");
      render();
      optd.setLive(true, "live");
    } catch (error) {
      if (signal.aborted) return;
      status.replaceChildren(optd.errorBox(error));
      optd.setLive(false, "");
    }
  }

  (async () => {
    while (!signal.aborted) {
      await load();
      await optd.sleep(optd.LIST_REFRESH_MS, signal);
    }
  })();
};
