// The trade's premium and spot against minutes since entry (Chart.js, linear axes: no date adapter).
(function () {
  "use strict";
  var dataEl = document.getElementById("trade-chart-data");
  var canvas = document.getElementById("trade-chart");
  if (!dataEl || !canvas || typeof Chart === "undefined") { return; }
  var d = JSON.parse(dataEl.textContent);
  var datasets = [
    { label: "Premium", data: d.premium, yAxisID: "y", borderColor: "#1f5fbf", backgroundColor: "#1f5fbf",
      pointRadius: d.premium.length > 20 ? 0 : 4, borderWidth: 2, tension: 0 },
  ];
  if (d.spot.length) {
    datasets.push({ label: "Spot", data: d.spot, yAxisID: "y1", borderColor: "#9a6700", backgroundColor: "#9a6700",
      pointRadius: d.spot.length > 20 ? 0 : 3, borderWidth: 1.5, tension: 0 });
  }
  var levelColours = { stop: "#c62828", target: "#0f8a4b" };
  Object.keys(d.levels).forEach(function (name) {
    datasets.push({ label: name === "stop" ? "Stop" : "Target", data: d.levels[name], yAxisID: "y",
      borderColor: levelColours[name], borderDash: [6, 4], borderWidth: 1, pointRadius: 0 });
  });
  // eslint-disable-next-line no-new
  new Chart(canvas, {
    type: "line",
    data: { datasets: datasets },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false, parsing: { xAxisKey: "x", yAxisKey: "y" },
      interaction: { mode: "nearest", intersect: false },
      scales: {
        x: { type: "linear", title: { display: true, text: "minutes since entry" } },
        y: { type: "linear", position: "left", title: { display: true, text: "premium (Rs)" } },
        y1: { type: "linear", position: "right", display: d.spot.length > 0, grid: { drawOnChartArea: false },
              title: { display: true, text: "spot" } },
      },
      plugins: {
        tooltip: { callbacks: { title: function (items) {
          var raw = items.length ? items[0].raw : null;
          return raw && raw.t ? raw.t + " IST" : "";
        } } },
      },
    },
  });
})();
