// Draws the statistics page's charts with the vendored Chart.js; the numbers come from each canvas's data-chart.
(function () {
  "use strict";
  var palette = ["#1f5fa8", "#c0392b", "#27ae60", "#d68910", "#7d3c98", "#117a65", "#884e24", "#5d6d7e"];

  function draw(canvas) {
    var spec = JSON.parse(canvas.getAttribute("data-chart"));
    var round = spec.type === "doughnut" || spec.type === "pie";
    var colours = round ? spec.labels.map(function (_label, i) { return palette[i % palette.length]; })
                        : palette[0];
    return new window.Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: [{ label: spec.label, data: spec.values, backgroundColor: colours }] },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { display: round }, title: { display: true, text: spec.title } },
        scales: round ? {} : { y: { beginAtZero: true, ticks: { precision: 0 } } }
      }
    });
  }

  // Without JavaScript every field shows and the chosen period decides; with it only the fields that matter do.
  function followPeriod() {
    var kind = document.querySelector("select[name=period]");
    if (!kind) { return; }
    var show = function () {
      document.querySelectorAll("[data-period-field]").forEach(function (field) {
        field.hidden = field.getAttribute("data-period-field") !== kind.value;
      });
    };
    kind.addEventListener("change", show);
    show();
  }

  function start() {
    followPeriod();
    if (!window.Chart) { return; }
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
