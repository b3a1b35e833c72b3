/* Infrastructure console charts (ECharts, vendored): the map of assets on /assets and the telemetry lines of one
   asset on /assets/{id}. Data comes from the page's <script type="application/json"> blocks (asset-map-data,
   telemetry-data), so the Content-Security-Policy stays at script-src 'self'. No map tiles: the map is a scatter on
   longitude/latitude axes at equal scale, as on the case workbench. */
(function () {
  "use strict";

  var cy = window.cy, readJson = cy.readJson, escapeHtml = cy.escapeHtml;
  var COLOURS = { online: "#1a7f37", offline: "#c0392b", unknown: "#9aa7b4", retired: "#c9a76b" };
  var ORDER = ["retired", "unknown", "online", "offline"];  // offline drawn last, on top

  function initMap() {
    cy.pointMap({
      dataId: "asset-map-data", boxId: "asset-map", href: "/assets/", readyFlag: "__assetMapReady",
      colours: COLOURS, order: ORDER, symbol: 10, border: 1,
      group: function (p) { return p.status; },
      item: function (p) { return { id: p.id, name: p.name, kind: p.kind, statusText: p.status_text }; },
      tooltip: function (v) {
        return "<strong>" + escapeHtml(v.name) + "</strong><br>" + escapeHtml(v.id) + " · " + escapeHtml(v.kind) +
          "<br>" + escapeHtml(v.statusText);
      }
    });
  }

  /* One line per metric: the readings, or the bucket means with a min–max band (two stacked lines: the minimum,
     transparent, then max − min filled). Times arrive as the display zone's wall clock, so the chart runs in UTC. */
  function telemetryOption(s, labels, span) {
    var series = [{
      id: "value", name: s.bucketed ? labels.value : labels.raw, type: "line", showSymbol: s.points.length < 60,
      symbolSize: 4, lineStyle: { width: 1.6, color: "#2f7fc1" }, itemStyle: { color: "#2f7fc1" },
      data: s.points.map(function (p) { return [p[0], p[1]]; }), z: 3
    }];
    if (s.bucketed) {
      series.push({
        id: "band-min", name: labels.min, type: "line", stack: "band", symbol: "none", lineStyle: { opacity: 0 },
        data: s.points.map(function (p) { return [p[0], p[2]]; }), tooltip: { show: false }
      });
      series.push({
        id: "band", name: labels.band, type: "line", stack: "band", symbol: "none", lineStyle: { opacity: 0 },
        areaStyle: { color: "rgba(47, 127, 193, 0.18)" },
        data: s.points.map(function (p) { return [p[0], p[3] === null || p[2] === null ? null : p[3] - p[2]]; }),
        tooltip: { show: false }
      });
    }
    var byTime = {};
    s.points.forEach(function (p) { byTime[p[0]] = p; });
    return {
      animation: false, useUTC: true,
      grid: { left: 56, right: 20, top: 16, bottom: 36 },
      tooltip: {
        trigger: "axis", confine: true,
        formatter: function (items) {
          var p = byTime[items[0].value[0]];
          if (!p) { return ""; }
          var when = window.echarts.time.format(p[0], "{yyyy}-{MM}-{dd} {HH}:{mm}", true);
          var text = escapeHtml(when) + "<br>" + escapeHtml(s.bucketed ? labels.value : labels.raw) + " " + fmt(p[1]);
          if (s.bucketed) { text += "<br>" + escapeHtml(labels.min) + " " + fmt(p[2]) + " · " + escapeHtml(labels.max) + " " + fmt(p[3]); }
          return text;
        }
      },
      xAxis: { type: "time", min: span.since, max: span.until, axisLabel: { color: "#66788a", fontSize: 11, hideOverlap: true,
                 formatter: { year: "{yyyy}", month: "{yyyy}-{MM}", day: "{MM}-{dd}", hour: "{HH}:{mm}", minute: "{HH}:{mm}" } }, splitLine: { show: false } },
      yAxis: { type: "value", scale: true, axisLabel: { color: "#66788a", fontSize: 11 }, splitLine: { lineStyle: { color: "#eef1f5" } } },
      series: series
    };
  }

  function fmt(v) {
    return v === null || v === undefined ? "—" : (Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(3).replace(/\.?0+$/, ""));
  }

  function initTelemetry() {
    var d = readJson("telemetry-data");
    if (!d || !window.echarts) { return; }
    var pending = d.series.length, charts = [];
    d.series.forEach(function (s, i) {
      var box = document.getElementById("metric-chart-" + i);
      if (!box) { pending -= 1; return; }
      var chart = window.echarts.init(box, null, { renderer: "canvas" });
      var done = false;
      chart.on("finished", function () {
        if (!done) { done = true; pending -= 1; if (pending <= 0) { window.__telemetryReady = true; } }
      });
      chart.setOption(telemetryOption(s, d.labels, d));
      charts.push(chart);
    });
    if (pending <= 0) { window.__telemetryReady = true; }
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  }

  cy.ready(function () { initMap(); initTelemetry(); });
}());
