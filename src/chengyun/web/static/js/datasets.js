/* Data resources console charts (ECharts, vendored) on /datasets/{id}: the scores of the six GB/T 36344 quality
   dimensions of the latest check (bars against the dataset's target), and the score of each past check (a line).
   Data comes from the page's <script type="application/json" id="quality-data"> block, so the
   Content-Security-Policy stays at script-src 'self'. window.__qualityChartsReady is set once both are drawn. */
(function () {
  "use strict";

  var cy = window.cy;
  var OK = "#1a7f37", LOW = "#c0392b", LINE = "#2f7fc1", AXIS = "#66788a", SPLIT = "#eef1f5";

  function targetLine(d) {
    return {
      silent: true, symbol: "none", lineStyle: { color: "#9aa7b4", type: "dashed" },
      label: { color: AXIS, fontSize: 11, formatter: d.target_label + " " + d.target },
      data: [d.horizontal ? { xAxis: d.target } : { yAxis: d.target }]
    };
  }

  /* Horizontal bars, the first dimension on top; a dimension without a scored rule has no bar and says so. */
  function dimensionOption(d) {
    var dims = d.dimensions;
    var names = dims.names.slice().reverse(), scores = dims.scores.slice().reverse();
    return {
      animation: false,
      grid: { left: 8, right: 56, top: 24, bottom: 24, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true,
                 valueFormatter: function (v) { return v === null || v === undefined || v === "-" ? dims.none : Number(v).toFixed(1); } },
      xAxis: { type: "value", min: 0, max: 100, splitLine: { lineStyle: { color: SPLIT } }, axisLabel: { color: AXIS } },
      yAxis: { type: "category", data: names, axisTick: { show: false }, axisLabel: { color: "#44515e", fontSize: 13 } },
      series: [{
        name: dims.label, type: "bar", barMaxWidth: 22,
        data: scores.map(function (s) {
          return s === null ? { value: "-", label: { show: false } } :
            { value: s, itemStyle: { color: s >= d.target ? OK : LOW } };
        }),
        label: { show: true, position: "right", formatter: function (p) { return Number(p.value).toFixed(1); } },
        markLine: targetLine({ target: d.target, target_label: d.target_label, horizontal: true })
      }, {
        /* the words 未检测 where a dimension has no score, drawn at the axis */
        type: "scatter", symbolSize: 0, silent: true, tooltip: { show: false },
        data: scores.map(function (s, i) { return s === null ? [0, names[i]] : null; }).filter(Boolean),
        label: { show: true, position: "right", color: AXIS, fontSize: 12, formatter: dims.none }
      }]
    };
  }

  function historyOption(d) {
    var h = d.history;
    return {
      animation: false,
      grid: { left: 44, right: 64, top: 20, bottom: 36 },
      tooltip: { trigger: "axis", confine: true },
      xAxis: { type: "category", data: h.times, boundaryGap: false,
               axisLabel: { color: AXIS, fontSize: 11, hideOverlap: true }, axisLine: { lineStyle: { color: "#b8c2cc" } } },
      /* from a round ten below the lowest score (or the target), so a change of a few points shows */
      yAxis: { type: "value", max: 100, splitLine: { lineStyle: { color: SPLIT } }, axisLabel: { color: AXIS },
               min: function (v) { return Math.max(0, Math.floor((Math.min(v.min, d.target) - 10) / 10) * 10); } },
      series: [{
        name: h.label, type: "line", data: h.scores, connectNulls: true, symbolSize: 7,
        lineStyle: { width: 2, color: LINE },
        itemStyle: { color: function (p) { return p.value >= d.target ? OK : LOW; } },
        markLine: targetLine(d)
      }]
    };
  }

  function draw(boxId, option, done) {
    var box = document.getElementById(boxId);
    if (!box) { done(); return null; }
    var chart = window.echarts.init(box, null, { renderer: "canvas" });
    var finished = false;
    chart.on("finished", function () { if (!finished) { finished = true; done(); } });
    chart.setOption(option);
    return chart;
  }

  cy.ready(function () {
    var d = cy.readJson("quality-data");
    if (!d || !window.echarts) { return; }
    var pending = 2, charts = [];
    var done = function () { pending -= 1; if (pending === 0) { window.__qualityChartsReady = true; } };
    charts.push(draw("dimension-chart", dimensionOption(d), done));
    charts.push(draw("history-chart", historyOption(d), done));
    window.addEventListener("resize", function () {
      charts.forEach(function (c) { if (c) { c.resize(); } });
    });
  });
}());
