/* City overview: the bar chart of the latest total per district (ECharts, vendored) and the unit selector.
   Chart data comes from the page's <script type="application/json" id="overview-data"> block, so no inline
   script is needed and the Content-Security-Policy can stay at script-src 'self'. */
(function () {
  "use strict";

  var STAGE_COLOURS = ["#b8c2cc", "#d08a1e", "#2f7fc1", "#1a7f37", "#7b5ea7", "#c0392b"];

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  function stageIndex(stages, total) {
    var hit = 0;
    stages.forEach(function (s, i) { if (total + 1e-9 >= s.min) { hit = i; } });
    return hit;
  }

  function barOption(d) {
    var names = d.bars.map(function (b) { return b.name; });
    var data = d.bars.map(function (b) {
      var style = { color: STAGE_COLOURS[stageIndex(d.stages, b.total) % STAGE_COLOURS.length] };
      if (b.unit === d.selected) { style.borderColor = "#143a6b"; style.borderWidth = 2; }
      return { value: b.total, itemStyle: style };
    });
    var lines = d.stages.filter(function (s) { return s.min > 0; }).map(function (s) {
      return { yAxis: s.min, name: s.name };
    });
    return {
      tooltip: {
        trigger: "axis", axisPointer: { type: "shadow" }, confine: true,
        formatter: function (ps) {
          var b = d.bars[ps[0].dataIndex];
          return b.name + "<br>" + d.labels.total + ": " + b.total.toFixed(2) + "<br>" + d.labels.stage + ": " +
            b.stage + "<br>" + d.labels.period + ": " + b.period;
        }
      },
      grid: { left: 40, right: 90, top: 28, bottom: 28 },
      xAxis: { type: "category", data: names, axisTick: { show: false }, axisLine: { lineStyle: { color: "#b8c2cc" } },
               axisLabel: { color: "#44515e", fontSize: 12 } },
      yAxis: { type: "value", min: 0, max: d.max, splitLine: { lineStyle: { color: "#eef1f5" } } },
      series: [{
        name: d.labels.total, type: "bar", data: data, barMaxWidth: 46, cursor: "pointer",
        label: { show: true, position: "top", fontWeight: 600, formatter: function (p) { return Number(p.value).toFixed(1); } },
        markLine: {
          silent: true, symbol: "none", data: lines,
          lineStyle: { color: "#9aa7b4", type: "dashed" },
          label: { position: "end", color: "#66788a", fontSize: 11, formatter: function (p) { return p.name + " ≥" + p.value; } }
        }
      }]
    };
  }

  function initChart() {
    var holder = document.getElementById("overview-data");
    var box = document.getElementById("chart-districts");
    if (!holder || !box || !window.echarts) { window.__chartsReady = true; return; }
    var data = JSON.parse(holder.textContent);
    var chart = window.echarts.init(box, null, { renderer: "canvas" });
    var done = false;
    chart.on("finished", function () { if (!done) { done = true; window.__chartsReady = true; } });
    chart.on("click", function (p) {
      var bar = data.bars[p.dataIndex];
      if (bar && bar.href) { window.location.href = bar.href; }
    });
    chart.setOption(barOption(data));
    window.addEventListener("resize", function () { chart.resize(); });
  }

  /* The unit selector submits itself on change; its button stays for keyboards and browsers without script. */
  function initPicker() {
    var select = document.getElementById("unit-select");
    if (!select) { return; }
    select.addEventListener("change", function () { select.form.submit(); });
  }

  ready(function () { initPicker(); initChart(); });
}());
