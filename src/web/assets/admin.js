// Draws the page's charts with Chart.js (served by the bot itself). The specs come from the page,
// in a JSON script element: no inline script runs, so the page's Content-Security-Policy stays strict.
(function () {
  'use strict';
  var specsElement = document.getElementById('chart-specs');
  if (!specsElement || typeof Chart === 'undefined') return;
  var specs = JSON.parse(specsElement.textContent || '[]');
  var percent = function (v) { return Math.round(v * 100) + '%'; };
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = '#374151';
  specs.forEach(function (spec) {
    var canvas = document.getElementById(spec.id);
    if (!canvas) return;
    var hasRight = spec.datasets.some(function (d) { return d.axis === 'y1'; });
    var datasets = spec.datasets.map(function (d) {
      var type = d.kind || (spec.type === 'scatter' ? 'scatter' : spec.type);
      return {
        type: type,
        label: d.label,
        data: d.data,
        borderColor: d.color,
        backgroundColor: type === 'line' ? d.color : d.color + 'cc',
        yAxisID: d.axis || 'y',
        tension: 0.25,
        pointRadius: type === 'scatter' ? 5 : 2,
        borderWidth: type === 'bar' ? 0 : 2,
        spanGaps: true,
        order: type === 'line' ? 0 : 1,
      };
    });
    var scales = {
      x: { title: { display: !!spec.xTitle, text: spec.xTitle || '' }, stacked: !!spec.stacked, grid: { display: spec.type === 'scatter' } },
      y: {
        beginAtZero: true,
        stacked: !!spec.stacked,
        title: { display: !!spec.yTitle, text: spec.yTitle || '' },
        ticks: spec.percent ? { callback: percent } : { precision: 0 },
      },
    };
    if (spec.percent) scales.y.max = 1;
    if (spec.type === 'scatter') {
      scales.x.min = 0;
      scales.x.max = 1;
      scales.x.ticks = { callback: percent };
      scales.y.beginAtZero = false;
      scales.y.suggestedMin = -0.5;
      scales.y.suggestedMax = 1;
      scales.y.ticks = { precision: 1 };
    }
    if (hasRight) scales.y1 = { position: 'right', beginAtZero: true, grid: { drawOnChartArea: false } };
    new Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: spec.type === 'scatter' ? { mode: 'nearest', intersect: true } : { mode: 'index', intersect: false },
        scales: scales,
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 12, boxHeight: 12 } },
          tooltip: {
            callbacks: {
              label: function (ctx) {
                var raw = ctx.raw;
                if (spec.type === 'scatter' && raw && typeof raw === 'object') return raw.label + ': ' + percent(raw.x) + ', ' + raw.y.toFixed(2);
                var v = ctx.parsed.y;
                return ctx.dataset.label + ': ' + (v === null ? '–' : spec.percent ? percent(v) : v);
              },
            },
          },
        },
      },
    });
  });
})();
