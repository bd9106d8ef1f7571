// optd dashboard: one session (#/session/<id>). Its convergence plots from
// GET /api/v1/sessions/{id}/history (the whole run, down-sampled on the
// server), its facts, summary and options from GET /api/v1/sessions/{id},
// and its trial log a page at a time from .../trials. A running session is
// followed by long polls (since_tells + wait_seconds): the plots move as
// tells arrive, without a reload.
"use strict";

optd.HISTORY_POINTS = 2000;
optd.POLL_WAIT_SECONDS = 25;
optd.POLL_MIN_INTERVAL_MS = 250;
optd.TRIAL_ROWS = 500;   // rows of the trial table (the newest); the CSV has all

// What a solver's step_length means (HistoryEntry.step_length).
optd.stepMeaning = function (solver) {
  if (solver === "adam" || solver === "adamw") return "learning rate used";
  if (solver === "trust_region") return "length of the accepted step";
  return "step length along the search direction";
};

// The plotted series of a history body: each entry once, in order.
optd.historySeries = function (history, trials) {
  const h = history.map((e) => ({
    it: optd.num(e.iteration), ev: optd.num(e.evaluations), value: optd.num(e.value),
    current: optd.num(e.currentValue), g: optd.num(e.gradientMaxNorm),
    step: optd.num(e.stepLength), radius: optd.num(e.trustRadius),
    t: e.time ? Date.parse(e.time) : NaN,
  }));
  const perIteration = [];
  for (let i = 1; i < h.length; i++) {
    const di = h[i].it - h[i - 1].it;
    if (di > 0) perIteration.push({ x: h[i].it, y: (h[i].ev - h[i - 1].ev) / di });
  }
  // A failed trial is marked at the first iterate recorded at or after it.
  const failed = [];
  for (const t of trials) {
    if (!t.failed) continue;
    const time = Date.parse(t.time);
    const at = h.find((e) => e.t >= time);
    const x = at ? at.it : (h.length ? h[h.length - 1].it + 1 : 0);
    const bar = perIteration.find((p) => p.x === x);
    failed.push({ x, y: bar ? bar.y : 1, trial: t.trialId });
  }
  return {
    value: h.map((e) => ({ x: e.it, y: e.value })),
    current: h.map((e) => ({ x: e.it, y: e.current })),
    gradient: h.map((e) => ({ x: e.it, y: e.g })),
    step: h.map((e) => ({ x: e.it, y: e.step })),
    radius: h.map((e) => ({ x: e.it, y: e.radius })),
    perIteration,
    failed,
  };
};

optd.showSession = function (root, id, signal) {
  const page = {
    id, session: null, history: null, trials: [], trialsDropped: 0,
    afterId: "0", tells: null, longPoll: true,
  };
  const title = optd.el("h1", {}, "Session ", optd.el("span", { id: "session-id" }, id));
  const badge = optd.el("p", { id: "session-state" });
  const error = optd.el("div", { id: "session-error" });
  const charts = optd.el("div", { class: "grid", id: "charts" });
  const facts = optd.el("div", { class: "card", id: "facts" });
  const summary = optd.el("div", { class: "card", id: "summary" });
  const options = optd.el("div", { class: "card", id: "options" });
  const outstanding = optd.el("div", { id: "outstanding" });
  const checks = optd.el("div", { id: "gradient-checks" });
  const shards = optd.el("div", { id: "shard-map" });
  const trialTable = optd.el("table", { id: "trials" });
  const trialInfo = optd.el("p", { class: "muted", id: "trials-info" });
  const csv = optd.el("button", { id: "trials-csv", type: "button" }, "Download CSV");
  root.append(
    optd.el("p", {}, optd.el("a", { href: "#/sessions" }, "← Sessions")),
    title, badge, error,
    charts,
    optd.el("div", { class: "grid facts-row" }, facts, summary),
    optd.el("h2", {}, "Outstanding trials and leases"), outstanding,
    optd.el("h2", {}, "Trial log"), optd.el("div", { class: "pager" }, csv, trialInfo),
    optd.el("div", { class: "scroll" }, trialTable),
    optd.el("h2", {}, "Gradient checks"), checks,
    optd.el("h2", {}, "Shards"), shards,
    optd.el("h2", {}, "Options"), options);

  optd.chartCard(charts, { name: "value", title: "Objective value", logY: "auto", xLabel: "iteration",
                           note: "best value so far, and the value at the current iterate" });
  optd.chartCard(charts, { name: "gradient", title: "max |g| (infinity norm of the gradient)", logY: "auto", xLabel: "iteration" });
  optd.chartCard(charts, { name: "step", title: "Step", logY: "auto", xLabel: "iteration" });
  optd.chartCard(charts, { name: "evaluations", title: "Evaluations per iteration", logY: false, xLabel: "iteration",
                           note: "line-search or rejected-trial cost; × marks failed evaluations" });
  csv.addEventListener("click", () => optd.downloadTrialsCsv(id, signal));

  function renderCharts() {
    const s = optd.historySeries(page.history.history || [], page.trials);
    const solver = page.session ? page.session.solver : "";
    const total = optd.num(page.history.totalPoints);
    const shown = (page.history.history || []).length;
    const sampled = shown < total ? shown + " of " + total.toLocaleString("en-US") +
      " iterates plotted (down-sampled on the server; first, last and best kept)" : total + " iterates";
    optd.setSeries("value", [
      { label: "best value", points: s.value },
      { label: "current value", points: s.current, dashed: true },
    ], sampled);
    optd.setSeries("gradient", [{ label: "max |g|", points: s.gradient }]);
    const step = [{ label: optd.stepMeaning(solver), points: s.step }];
    if (s.radius.some((p) => Number.isFinite(p.y))) step.push({ label: "trust radius", points: s.radius });
    optd.setSeries("step", step, optd.stepMeaning(solver) + " per iteration");
    optd.setSeries("evaluations", [
      { label: "evaluations per iteration", points: s.perIteration, stepped: true },
      { label: "failed evaluations", points: s.failed, scatter: true, color: "#b42318" },
    ]);
  }

  // Summary.curvature of a curvature session (docs/curvature.md).
  function curvatureFacts(c) {
    const list = (v) => (v || []).map((x) => optd.fmt(x, 8)).join(", ") || "—";
    return optd.el("div", { id: "curvature" }, optd.el("h3", {}, "Curvature"), optd.facts({
      "smallest eigenvalues": list(c.smallest), "largest eigenvalues": list(c.largest),
      "condition number": optd.fmt(c.conditionNumber, 6),
      "Hessian-vector products": optd.fmt(c.products),
      "Lanczos steps": optd.fmt(c.lanczosSteps) + (c.converged ? " (converged)" : " (not converged)"),
      "density nodes": optd.fmt((c.densityNodes || []).length),
    }));
  }

  function renderSession() {
    const s = page.session;
    const state = optd.stateName(s.state);
    badge.replaceChildren(optd.el("span", { class: "state state-" + state }, state), " ",
      s.solver, " · n = ", optd.fmt(s.dimension),
      s.damage ? optd.el("span", { class: "error" }, " damaged: " + s.damage) : "");
    facts.replaceChildren(optd.el("h3", {}, "Session"), optd.facts({
      "iterations": optd.fmt(s.iterations), "evaluations": optd.fmt(s.evaluations),
      "tells": optd.fmt(s.tells), "best value": optd.fmt(s.bestValue, 10),
      "max |g|": optd.fmt(s.gradientMaxNorm), "created": optd.time(s.createTime),
      "updated": optd.time(s.updateTime), "durability": s.durability,
      "durable step": optd.fmt(s.durableStep), "gradient source": s.gradientSource,
      "vector encoding": s.vectorEncoding, "ttl seconds": optd.fmt(s.ttlSeconds),
      "lease seconds": optd.fmt(s.leaseSeconds),
      "labels": Object.entries(s.labels || {}).map(([k, v]) => k + ":" + v).join(", ") || "—",
    }));
    const sum = s.summary || {};
    if (sum.reason && sum.reason !== "TERMINATION_REASON_UNSPECIFIED") {
      summary.replaceChildren(optd.el("h3", {}, "Summary"), optd.facts({
        "reason": String(sum.reason).replace(/^TERMINATION_REASON_/, ""),
        "message": sum.message, "success": sum.success, "value": optd.fmt(sum.value, 10),
        "max |g|": optd.fmt(sum.gradientMaxNorm), "iterations": optd.fmt(sum.iterations),
        "evaluations": optd.fmt(sum.evaluations), "wall seconds": optd.fmt(sum.wallSeconds),
        "brief report": sum.briefReport,
      }), sum.curvature ? curvatureFacts(sum.curvature) : "",
      sum.fullReport ? optd.el("pre", { id: "full-report" }, sum.fullReport) : "");
    } else {
      summary.replaceChildren(optd.el("h3", {}, "Summary"), optd.el("p", { class: "muted" }, "running: the summary comes when the session ends"));
    }
    const echo = {};
    for (const key of ["lbfgs", "adam", "adamw", "trustRegion", "curvature", "bounds", "finiteDifference", "gradientCheck", "dataParallel"]) {
      if (s[key] !== undefined) echo[key] = s[key];
    }
    options.replaceChildren(optd.el("h3", {}, "Options (every default resolved)"),
                            optd.el("pre", { id: "options-echo" }, JSON.stringify(echo, null, 2)));
    const pending = s.pendingTrialIds || [];
    const leases = s.leases || [];
    outstanding.replaceChildren(
      optd.el("p", {}, pending.length ? "Outstanding trial ids: " + pending.join(", ") : "No trial outstanding."),
      leases.length ? optd.el("table", { id: "leases" },
        optd.el("tr", {}, optd.el("th", {}, "trial"), optd.el("th", {}, "worker"), optd.el("th", {}, "lease expires")),
        leases.map((l) => optd.el("tr", {}, optd.el("td", {}, l.trialId), optd.el("td", {}, l.workerId),
                                  optd.el("td", {}, optd.time(l.expireTime))))) : "");
    const gc = s.gradientChecks || [];
    checks.replaceChildren(gc.length ? optd.el("table", {},
      optd.el("tr", {}, optd.el("th", {}, "iteration"), optd.el("th", { class: "num" }, "max relative error"),
              optd.el("th", {}, "verdict"), optd.el("th", {}, "worst coordinates")),
      gc.map((c) => {
        const err = optd.num(c.maxRelativeError);
        const rel = (c.relativeError || []).map(optd.num);
        const worst = rel.map((e, i) => [e, i]).filter((p) => Number.isFinite(p[0]))
          .sort((a, b) => b[0] - a[0]).slice(0, 3)
          .map(([e, i]) => "x[" + i + "]: g " + optd.fmt(c.told[i]) + " vs fd " + optd.fmt(c.finiteDifference[i]));
        const verdict = !(err <= 1e-3) ? "likely a gradient bug" : err < 1e-7 ? "right" : "close";
        return optd.el("tr", { class: verdict === "likely a gradient bug" ? "failed" : "" },
          optd.el("td", {}, c.iteration), optd.el("td", { class: "num" }, optd.fmt(err, 3)),
          optd.el("td", {}, verdict), optd.el("td", {}, worst.join("; ")));
      })) : optd.el("p", { class: "muted" }, "No gradient checks (CreateSessionRequest.gradient_check)."));
    const map = s.shardMap || [];
    shards.replaceChildren(...(map.length ? [
      optd.el("p", {}, "Sharded over " + map.length + " replicas: " + optd.fmt(s.shardRoundTrips) +
        " round trips and " + optd.fmt(s.shardReductions) + " reductions so far; every round trip visits each replica once."),
      optd.el("table", { id: "shards" },
        optd.el("tr", {}, ["shard", "replica", "address", "elements", "bytes per state vector", "round trips"]
          .map((h) => optd.el("th", {}, h))),
        map.map((m) => {
          const elements = optd.num(m.end) - optd.num(m.begin);
          return optd.el("tr", {}, optd.el("td", {}, m.shard), optd.el("td", {}, m.replica),
            optd.el("td", {}, m.address), optd.el("td", { class: "num" }, "[" + m.begin + ", " + m.end + ") " + optd.fmt(elements)),
            optd.el("td", { class: "num" }, optd.bytes(elements * 8)),
            optd.el("td", { class: "num" }, optd.fmt(s.shardRoundTrips)));
        }))] : [optd.el("p", { class: "muted" }, "Not sharded: this replica holds the whole state.")]));
  }

  function renderTrials() {
    const rows = page.trials.slice(-optd.TRIAL_ROWS).reverse();
    trialInfo.textContent = page.trials.length + " trial records" +
      (page.trialsDropped ? " (the server let the oldest " + page.trialsDropped + " go)" : "") +
      (page.trials.length > optd.TRIAL_ROWS ? "; the newest " + optd.TRIAL_ROWS + " shown" : "");
    trialTable.replaceChildren(
      optd.el("thead", {}, optd.el("tr", {}, ["trial", "worker", "time", "value", "max |g|", "weight", "note"]
        .map((h) => optd.el("th", { class: ["value", "max |g|", "weight"].includes(h) ? "num" : "" }, h)))),
      optd.el("tbody", {}, rows.map((t) => optd.el("tr", { class: t.failed ? "failed" : "", "data-trial": t.trialId },
        optd.el("td", {}, t.trialId + (t.failed ? " (failed)" : "")), optd.el("td", {}, t.workerId || "—"),
        optd.el("td", {}, optd.time(t.time)), optd.el("td", { class: "num" }, t.failed ? "failed" : optd.fmt(t.value, 10)),
        optd.el("td", { class: "num" }, optd.fmt(t.gradientMaxNorm)), optd.el("td", { class: "num" }, optd.fmt(t.weight)),
        optd.el("td", {}, t.note || "")))));
  }

  async function loadTrials() {
    for (;;) {
      const body = await optd.api("/sessions/" + encodeURIComponent(id) + "/trials",
                                  { after_id: page.afterId, limit: 1000 }, { signal });
      for (const t of body.trials || []) {
        delete t.x;  // the table shows no points; keep memory small
        page.trials.push(t);
      }
      page.trialsDropped = optd.num(body.trialLogDropped) || 0;
      if (page.trials.length) page.afterId = page.trials[page.trials.length - 1].trialId;
      if (!body.nextAfterId) break;
    }
  }

  async function loadAll(wait) {
    const params = { max_points: optd.HISTORY_POINTS };
    if (wait && page.longPoll && page.tells !== null) {
      params.since_tells = page.tells;
      params.wait_seconds = optd.POLL_WAIT_SECONDS;
    }
    let history;
    try {
      history = await optd.api("/sessions/" + encodeURIComponent(id) + "/history", params, { signal });
    } catch (e) {
      if (e.status === 400 && params.wait_seconds) {
        page.longPoll = false;  // an older optd: poll instead
        return loadAll(false);
      }
      throw e;
    }
    const session = await optd.api("/sessions/" + encodeURIComponent(id), {}, { signal });
    await loadTrials();
    page.session = session;
    page.history = history;
    page.tells = session.tells;
    renderSession();
    renderCharts();
    renderTrials();
    return optd.stateName(session.state) === "RUNNING";
  }

  (async () => {
    let running = true;
    let first = true;
    while (!signal.aborted) {
      const started = Date.now();
      try {
        running = await loadAll(!first);
        first = false;
        error.replaceChildren();
        optd.setLive(running, running ? (page.longPoll ? "live" : "polling") : "finished");
      } catch (e) {
        if (signal.aborted) return;
        error.replaceChildren(optd.errorBox(e));
        optd.setLive(false, "");
        if (e.status === 404) return;
        await optd.sleep(2000, signal);
      }
      if (!running) return;
      const elapsed = Date.now() - started;
      const pause = page.longPoll ? optd.POLL_MIN_INTERVAL_MS : 2000;
      if (elapsed < pause) await optd.sleep(pause - elapsed, signal);
    }
  })();
};

// Every record of the trial log (all pages) as CSV, downloaded by the
// browser; nothing leaves it through a URL.
optd.trialsCsv = async function (id, signal) {
  const columns = ["trial_id", "worker_id", "time", "value", "gradient_max_norm", "failed", "weight", "note"];
  const quote = (v) => {
    const s = v === undefined || v === null ? "" : String(v);
    return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  const lines = [columns.join(",")];
  let after = "0";
  for (;;) {
    const body = await optd.api("/sessions/" + encodeURIComponent(id) + "/trials", { after_id: after, limit: 1000 }, { signal });
    for (const t of body.trials || []) {
      lines.push([t.trialId, t.workerId, t.time, t.failed ? "" : t.value, t.gradientMaxNorm,
                  t.failed, t.weight, t.note].map(quote).join(","));
      after = t.trialId;
    }
    if (!body.nextAfterId) break;
  }
  return lines.join("\n") + "\n";
};

optd.downloadTrialsCsv = async function (id, signal) {
  const text = await optd.trialsCsv(id, signal);
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  const a = optd.el("a", { href: url, download: id + "-trials.csv" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
};
