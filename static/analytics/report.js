/* The analytics report's charts and sortable table, from the JSON in #report-data
   (analytics.report.Report.charts). The same file runs on /analytics/ and, inlined, in the tearsheet. */
(function () {
  "use strict";
  var WIN = "rgba(15,138,75,.75)", LOSS = "rgba(198,40,40,.75)", ACCENT = "#1f5fbf";
  var PARTS = { delta: "#1f5fbf", gamma: "#7b3fbf", theta: "#c26d00", vega: "#138a8a", residual: "#9aa3ae" };
  var el = document.getElementById("report-data");
  if (!el) { return; }
  var data = JSON.parse(el.textContent);

  function rupees(v) {
    if (v === null || v === undefined) { return "\u2013"; }
    var neg = v < 0, s = Math.abs(v).toFixed(2), whole = s.split(".")[0], frac = s.split(".")[1];
    var head = whole.slice(0, -3), tail = whole.slice(-3);
    if (head) { tail = "," + tail; head = head.replace(/\B(?=(\d{2})+(?!\d))/g, ","); }
    return (neg ? "-" : "") + "\u20b9" + head + tail + "." + frac;
  }
  function rupeeAxis(v) { return rupees(v).replace(/\.\d\d$/, ""); }
  var base = { maintainAspectRatio: false, animation: false, responsive: true,
    plugins: { legend: { display: false }, tooltip: { intersect: false, mode: "index" } } };
  function opts(extra) { return Object.assign({}, base, extra); }
  function chart(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas || !window.Chart) { return null; }
    return new Chart(canvas, config);
  }
  function moneyTooltip(ctx) { return (ctx.dataset.label ? ctx.dataset.label + ": " : "") + rupees(ctx.parsed.y); }

  var d = data.daily;
  if (d && d.dates.length) {
    var xTicks = { maxTicksLimit: 8, autoSkip: true, maxRotation: 0 };
    chart("equity-chart", { type: "line",
      data: { labels: d.dates, datasets: [{ label: "Equity", data: d.equity, borderColor: ACCENT, borderWidth: 2,
        pointRadius: 0, tension: 0 }] },
      options: opts({ plugins: { legend: { display: false }, tooltip: { intersect: false, mode: "index",
        callbacks: { label: moneyTooltip } } },
        scales: { x: { ticks: xTicks }, y: { ticks: { callback: rupeeAxis }, title: { display: true, text: "Equity (\u20b9)" } } } }) });
    chart("drawdown-chart", { type: "line",
      data: { labels: d.dates, datasets: [{ label: "Drawdown", data: d.drawdown, borderColor: "#c62828", borderWidth: 1,
        backgroundColor: "rgba(198,40,40,.25)", fill: "origin", pointRadius: 0, tension: 0 }] },
      options: opts({ plugins: { legend: { display: false }, tooltip: { intersect: false, mode: "index",
        callbacks: { label: moneyTooltip } } },
        scales: { x: { ticks: xTicks }, y: { max: 0, ticks: { callback: rupeeAxis, maxTicksLimit: 4 }, title: { display: true, text: "Drawdown" } } } }) });
    chart("daily-chart", { type: "bar",
      data: { labels: d.dates, datasets: [{ label: "Net P&L", data: d.net,
        backgroundColor: d.net.map(function (v) { return v < 0 ? LOSS : WIN; }) }] },
      options: opts({ plugins: { legend: { display: false }, tooltip: { callbacks: { label: moneyTooltip } } },
        scales: { x: { ticks: xTicks }, y: { ticks: { callback: rupeeAxis }, title: { display: true, text: "Net P&L (\u20b9)" } } } }) });
  }

  var r = data.r;
  if (r && r.total) {
    chart("r-chart", { type: "bar",
      data: { labels: r.labels, datasets: [{ label: "Trades", data: r.counts,
        backgroundColor: r.labels.map(function (l) { return /^(<|-)/.test(l) ? LOSS : WIN; }) }] },
      options: opts({ scales: { x: { ticks: { maxRotation: 60, autoSkip: true } },
        y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "Trades" } } } }) });
  }

  var s = data.scatter;
  if (s && s.points.length) {
    chart("excursion-chart", { type: "scatter",
      data: { datasets: [
        { label: "Won", data: s.points.filter(function (p) { return p.win; }), backgroundColor: WIN },
        { label: "Lost", data: s.points.filter(function (p) { return !p.win; }), backgroundColor: LOSS }] },
      options: opts({ plugins: { legend: { display: true },
        tooltip: { callbacks: { label: function (ctx) { return "MAE " + rupees(ctx.parsed.x) + ", MFE " + rupees(ctx.parsed.y); } } } },
        scales: { x: { title: { display: true, text: "MAE: worst (\u20b9)" }, ticks: { callback: rupeeAxis } },
          y: { title: { display: true, text: "MFE: best (\u20b9)" }, ticks: { callback: rupeeAxis } } } }) });
  }

  var a = data.attribution;
  if (a && a.labels.length) {
    chart("attribution-chart", { type: "bar",
      data: { labels: a.labels, datasets: a.components.map(function (c) {
        return { label: c.charAt(0).toUpperCase() + c.slice(1), data: a.values[c], backgroundColor: PARTS[c] || "#888", stack: "pnl" }; }) },
      options: opts({ plugins: { legend: { display: true }, tooltip: { mode: "index", intersect: false, callbacks: { label: moneyTooltip } } },
        scales: { x: { stacked: true, ticks: { autoSkip: false, maxRotation: 60 } },
          y: { stacked: true, ticks: { callback: rupeeAxis }, title: { display: true, text: "Gross P&L (\u20b9)" } } } }) });
  }

  // The strategy comparison: sort by any column (numbers by their raw value, names alphabetically).
  var table = document.getElementById("strategy-table");
  if (table) {
    var heads = table.querySelectorAll("th[data-sort]");
    heads.forEach(function (th) {
      th.querySelector("button").addEventListener("click", function () {
        var key = th.dataset.sort, asc = th.getAttribute("aria-sort") !== "ascending";
        if (th.getAttribute("aria-sort") === "none") { asc = key === "name"; }
        heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (x, y) {
          var u = x.dataset[key], v = y.dataset[key];  // data-win_rate -> dataset.win_rate
          var cmp;
          if (key === "name") { cmp = u.localeCompare(v); }
          else {
            var nu = u === "" ? -Infinity : parseFloat(u), nv = v === "" ? -Infinity : parseFloat(v);
            cmp = nu < nv ? -1 : nu > nv ? 1 : 0;
          }
          return asc ? cmp : -cmp;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }
})();
