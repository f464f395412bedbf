/* The home page's equity sparkline (data: #sparkline-data, from analytics.report.equity_sparkline). */
(function () {
  "use strict";
  var canvas = document.getElementById("equity-sparkline");
  if (!canvas || !window.Chart) { return; }
  var d = JSON.parse(document.getElementById("sparkline-data").textContent);
  var up = d.equity.length && d.equity[d.equity.length - 1] >= d.capital;
  new Chart(canvas, {
    type: "line",
    data: { labels: d.dates, datasets: [{ data: d.equity, borderColor: up ? "#0f8a4b" : "#c62828", borderWidth: 2,
      pointRadius: 0, fill: false, tension: 0 }] },
    options: { maintainAspectRatio: false, animation: false, plugins: { legend: { display: false },
      tooltip: { intersect: false, mode: "index" } },
      scales: { x: { display: false }, y: { display: true, ticks: { maxTicksLimit: 3 } } } }
  });
})();
