// optd dashboard: the server page (#/server). Snapshots of the metrics from
// GET /api/v1/server every few seconds; the charts are what Prometheus'
// rate() and histogram_quantile() would draw from the same counters and
// buckets, over the snapshots this page has seen.
"use strict";

optd.SERVER_REFRESH_MS = 2000;
optd.SERVER_KEEP = 300;  // snapshots kept: 10 minutes at 2 s

// The family `name` of a snapshot, or undefined.
optd.family = function (snapshot, name) {
  return (snapshot.metrics || []).find((f) => f.name === name);
};

// Sum of a counter or gauge family's samples (optionally only those whose
// labels pass `keep`).
optd.familySum = function (snapshot, name, keep) {
  const f = optd.family(snapshot, name);
  if (!f) return NaN;
  let sum = 0;
  for (const s of f.samples || []) if (!keep || keep(s.labels || {})) sum += optd.num(s.value);
  return sum;
};

// Per label value of `label`: {value: number} of a gauge family.
optd.byLabel = function (snapshot, name, label) {
  const out = {};
  const f = optd.family(snapshot, name);
  for (const s of (f && f.samples) || []) {
    const key = (s.labels || {})[label] || "";
    out[key] = (out[key] || 0) + optd.num(s.value);
  }
  return out;
};

// A histogram family's buckets summed over its samples: [{le, count}]
// cumulative, in order of le.
optd.histogramBuckets = function (snapshot, name) {
  const f = optd.family(snapshot, name);
  const sum = new Map();
  for (const s of (f && f.samples) || []) {
    for (const b of s.buckets || []) {
      const le = optd.num(b.le);
      sum.set(le, (sum.get(le) || 0) + optd.num(b.count));
    }
  }
  return [...sum.entries()].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }));
};

// The q-quantile of the observations between two snapshots' cumulative
// buckets, interpolated linearly inside its bucket as Prometheus'
// histogram_quantile() does. NaN when nothing was observed.
optd.quantile = function (q, before, after) {
  const delta = after.map((b, i) => ({ le: b.le, count: b.count - ((before[i] && before[i].count) || 0) }));
  const total = delta.length ? delta[delta.length - 1].count : 0;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let lowerLe = 0;
  let lowerCount = 0;
  for (const b of delta) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return lowerLe;  // in +Inf: the last finite bound
      const inBucket = b.count - lowerCount;
      return inBucket > 0 ? lowerLe + (b.le - lowerLe) * (rank - lowerCount) / inBucket : b.le;
    }
    lowerLe = b.le;
    lowerCount = b.count;
  }
  return lowerLe;
};

optd.showServer = function (root, signal) {
  const snapshots = [];
  const status = optd.el("p", { class: "muted", id: "server-status" });
  const grid = optd.el("div", { class: "grid", id: "server-charts" });
  const table = optd.el("table", { id: "server-metrics" });
  root.append(optd.el("h1", {}, "Server"), status, grid,
              optd.el("h2", {}, "Metrics now"), table);
  optd.chartCard(grid, { name: "steps", title: "Solver steps per second", logY: false, xLabel: "seconds ago" });
  optd.chartCard(grid, { name: "latency", title: "RPC latency (seconds)", logY: "auto", xLabel: "seconds ago",
                         note: "p50 and p99 of the RPCs handled in each interval" });
  optd.chartCard(grid, { name: "states", title: "Sessions by state", logY: false, xLabel: "seconds ago" });
  optd.chartCard(grid, { name: "memory", title: "Memory per tenant (bytes)", logY: false, xLabel: "seconds ago",
                         note: "session state and trial logs, what --tenant_memory_bytes limits; and the process' resident memory" });

  function render() {
    const last = snapshots[snapshots.length - 1];
    const now = last.time;
    const x = (s) => s.time - now;
    const steps = [];
    const p50 = [];
    const p99 = [];
    for (let i = 1; i < snapshots.length; i++) {
      const a = snapshots[i - 1];
      const b = snapshots[i];
      const dt = b.time - a.time;
      if (!(dt > 0)) continue;
      steps.push({ x: x(b), y: (optd.familySum(b.raw, "optd_steps_total") - optd.familySum(a.raw, "optd_steps_total")) / dt });
      const before = optd.histogramBuckets(a.raw, "optd_rpc_duration_seconds");
      const after = optd.histogramBuckets(b.raw, "optd_rpc_duration_seconds");
      p50.push({ x: x(b), y: optd.quantile(0.5, before, after) });
      p99.push({ x: x(b), y: optd.quantile(0.99, before, after) });
    }
    optd.setSeries("steps", [{ label: "steps/s", points: steps }]);
    optd.setSeries("latency", [{ label: "p50", points: p50 }, { label: "p99", points: p99 }]);
    const stateNames = new Set();
    const tenants = new Set();
    for (const s of snapshots) {
      Object.keys(optd.byLabel(s.raw, "optd_sessions", "state")).forEach((k) => stateNames.add(k));
      Object.keys(optd.byLabel(s.raw, "optd_tenant_memory_bytes", "tenant")).forEach((k) => tenants.add(k));
    }
    optd.setSeries("states", [...stateNames].sort().map((state) => ({
      label: state, points: snapshots.map((s) => ({ x: x(s), y: optd.byLabel(s.raw, "optd_sessions", "state")[state] || 0 })),
    })));
    const memory = [...tenants].sort().map((tenant) => ({
      // "-": the sessions of no tenant (a server without --tokens_file).
      label: tenant === "-" || !tenant ? "sessions without a tenant" : "tenant " + tenant,
      points: snapshots.map((s) => ({ x: x(s), y: optd.byLabel(s.raw, "optd_tenant_memory_bytes", "tenant")[tenant] || 0 })),
    }));
    if (optd.family(last.raw, "optd_process_resident_memory_bytes")) {
      memory.push({ label: "process resident", dashed: true,
                    points: snapshots.map((s) => ({ x: x(s), y: optd.familySum(s.raw, "optd_process_resident_memory_bytes") })) });
    }
    optd.setSeries("memory", memory);
    const rows = [];
    for (const f of last.raw.metrics || []) {
      for (const s of f.samples || []) {
        const labels = Object.entries(s.labels || {}).map(([k, v]) => k + "=" + v).join(", ");
        const value = f.type === "histogram" ? optd.fmt(s.count) + " observed, sum " + optd.fmt(s.sum) : optd.fmt(s.value);
        rows.push(optd.el("tr", {}, optd.el("td", { title: f.help }, f.name), optd.el("td", {}, labels),
                          optd.el("td", { class: "num" }, value)));
      }
    }
    table.replaceChildren(optd.el("tr", {}, optd.el("th", {}, "metric"), optd.el("th", {}, "labels"),
                                  optd.el("th", { class: "num" }, "value")), ...rows);
  }

  (async () => {
    while (!signal.aborted) {
      try {
        const raw = await optd.api("/server", {}, { signal });
        const time = optd.num(raw.timeUnixSeconds) || Date.now() / 1000;
        snapshots.push({ time, raw });
        if (snapshots.length > optd.SERVER_KEEP) snapshots.shift();
        status.textContent = snapshots.length + " snapshot(s), every " + optd.SERVER_REFRESH_MS / 1000 +
          " s; rates need two · updated " + new Date().toLocaleTimeString();
        render();
        optd.setLive(true, "live");
      } catch (e) {
        if (signal.aborted) return;
        status.replaceChildren(optd.errorBox(e));
        optd.setLive(false, "");
      }
      await optd.sleep(optd.SERVER_REFRESH_MS, signal);
    }
  })();
};
