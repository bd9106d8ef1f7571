// optd dashboard: line charts over Chart.js 3 (Debian's libjs-chart.js, MIT).
// Every chart the pages draw is kept in optd.charts by name, with the points
// it plots, so that the browser test can compare them with the API.
"use strict";

optd.charts = {};

optd.PALETTE = ["#1f4e79", "#d1495b", "#2e933c", "#edae49", "#6f4e9c",
                "#00798c", "#8d6a9f", "#c8553d", "#3d5a80", "#66a182"];

// A card with a title, a canvas and a note, appended to `parent`.
// spec: {name, title, note, logY ("auto" | true | false), xLabel, yLabel,
//        kind ("line" | "bar")}. Returns the card; optd.setSeries() fills it.
optd.chartCard = function (parent, spec) {
  const canvas = optd.el("canvas", { id: "chart-" + spec.name, "aria-label": spec.title, role: "img" });
  const note = optd.el("p", { class: "note" }, spec.note || "");
  const card = optd.el("div", { class: "card", "data-chart": spec.name },
                       optd.el("h3", {}, spec.title),
                       optd.el("div", { class: "chart" }, canvas), note);
  parent.append(card);
  const chart = new Chart(canvas.getContext("2d"), {
    type: spec.kind === "bar" ? "bar" : "line",
    data: { datasets: [] },
    options: {
      animation: false,
      parsing: false,
      normalized: true,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "nearest", intersect: false },
      elements: { point: { radius: 0, hitRadius: 4 }, line: { borderWidth: 1.6 } },
      scales: {
        x: { type: "linear", title: { display: !!spec.xLabel, text: spec.xLabel } },
        y: { type: "linear", title: { display: !!spec.yLabel, text: spec.yLabel },
             ticks: { callback: optd.tick } },
      },
      plugins: {
        legend: { display: true, labels: { boxWidth: 12 } },
        tooltip: { callbacks: { label: (c) => c.dataset.label + ": " + optd.fmt(c.parsed.y) } },
      },
    },
  });
  optd.charts[spec.name] = { chart, spec, note, series: [] };
  return card;
};

// Replaces a chart's series: [{label, points: [{x, y}], color, dashed,
// scatter (markers only), stepped}]. Points with a y that is not finite
// are left out of the plot (kept in optd.charts[name].series). With
// logY "auto", the y axis is logarithmic when every plotted y is > 0.
// Axis labels: powers of ten on a log axis (others unlabelled, as their
// grid lines show), short numbers on a linear one.
optd.tick = function (value) {
  if (this.type === "logarithmic") {
    const exponent = Math.log10(value);
    return Math.abs(exponent - Math.round(exponent)) < 1e-9 ? "1e" + Math.round(exponent) : "";
  }
  return optd.fmt(value, 3);
};

optd.setSeries = function (name, series, noteText) {
  const entry = optd.charts[name];
  if (!entry) return;
  entry.series = series;
  const chart = entry.chart;
  let positive = true;
  let any = false;
  // A series with nothing to plot (a field this solver does not report)
  // gets no legend entry.
  chart.data.datasets = series.filter((s) => s.points.some((p) => Number.isFinite(p.y))).map((s, i) => {
    const color = s.color || optd.PALETTE[i % optd.PALETTE.length];
    const data = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    for (const p of data) {
      any = true;
      if (p.y <= 0) positive = false;
    }
    return {
      label: s.label,
      data,
      borderColor: color,
      backgroundColor: color,
      borderDash: s.dashed ? [5, 4] : undefined,
      showLine: !s.scatter,
      // Markers too where points are few, so that a lone point shows.
      pointRadius: s.scatter ? 4 : data.length < 40 ? 2 : 0,
      pointStyle: s.scatter ? "crossRot" : "circle",
      stepped: s.stepped ? "before" : false,
      spanGaps: false,
    };
  });
  const wantLog = entry.spec.logY === true || (entry.spec.logY === "auto" && any && positive);
  chart.options.scales.y.type = wantLog && positive ? "logarithmic" : "linear";
  if (noteText !== undefined) entry.note.textContent = noteText;
  chart.update("none");
};

optd.destroyCharts = function () {
  for (const entry of Object.values(optd.charts)) entry.chart.destroy();
  optd.charts = {};
};
