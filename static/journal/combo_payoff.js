// A combo's P&L at its nearest expiry against the spot (Chart.js, linear axes).
(function () {
  "use strict";
  var dataEl = document.getElementById("combo-payoff-data");
  var canvas = document.getElementById("combo-payoff");
  if (!dataEl || !canvas || typeof Chart === "undefined") { return; }
  var d = JSON.parse(dataEl.textContent);
  var ys = d.points.map(function (p) { return p.y; });
  var lo = Math.min.apply(null, ys), hi = Math.max.apply(null, ys);
  // eslint-disable-next-line no-new
  new Chart(canvas, {
    type: "line",
    data: { datasets: [
      { label: "P&L at expiry", data: d.points, borderColor: "#1f5fbf", backgroundColor: "#1f5fbf",
        pointRadius: 0, borderWidth: 2, tension: 0 },
      { label: "Spot at entry", data: [{ x: d.spot, y: lo }, { x: d.spot, y: hi }], borderColor: "#9a6700",
        borderDash: [6, 4], borderWidth: 1, pointRadius: 0 },
    ] },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false, parsing: { xAxisKey: "x", yAxisKey: "y" },
      interaction: { mode: "nearest", intersect: false },
      scales: {
        x: { type: "linear", title: { display: true, text: "spot at expiry" } },
        y: { type: "linear", title: { display: true, text: "P&L (Rs)" } },
      },
    },
  });
})();
