/* Case console charts (ECharts, vendored): the workbench map of open cases and the department ranking's bars.
   Data comes from the page's <script type="application/json"> blocks (case-map-data, ranking-data), so no inline
   script is needed and the Content-Security-Policy stays at script-src 'self'. No map tiles: the map is a scatter
   on longitude/latitude axes drawn at equal scale. */
(function () {
  "use strict";

  var COLOURS = { overdue: "#c0392b", soon: "#d08a1e", ok: "#1a7f37", none: "#9aa7b4" };
  var ORDER = ["none", "ok", "soon", "overdue"];  // the most urgent drawn last, on top
  var GRID = { left: 66, right: 16, top: 12, bottom: 46 };

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  function readJson(id) {
    var holder = document.getElementById(id);
    return holder ? JSON.parse(holder.textContent) : null;
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }[c];
    });
  }

  /* Axis bounds for equal scale: one kilometre east as long on screen as one kilometre north. */
  function bounds(points, width, height) {
    var lons = points.map(function (p) { return p.lon; }), lats = points.map(function (p) { return p.lat; });
    var x0 = Math.min.apply(null, lons), x1 = Math.max.apply(null, lons);
    var y0 = Math.min.apply(null, lats), y1 = Math.max.apply(null, lats);
    var shrink = Math.cos(((y0 + y1) / 2) * Math.PI / 180) || 1;  // a degree of longitude is shorter
    var w = Math.max((x1 - x0) * shrink, 0.002), h = Math.max(y1 - y0, 0.002);
    var pw = Math.max(width - GRID.left - GRID.right, 10), ph = Math.max(height - GRID.top - GRID.bottom, 10);
    var per = Math.max(w / pw, h / ph) * 1.08;  // degrees (north) per pixel, with a margin
    var cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    return { xmin: cx - per * pw / 2 / shrink, xmax: cx + per * pw / 2 / shrink, ymin: cy - per * ph / 2, ymax: cy + per * ph / 2 };
  }

  function mapOption(d, box) {
    var b = bounds(d.points, box.clientWidth, box.clientHeight);
    var axis = function (name, min, max) {
      return { type: "value", name: name, nameLocation: "middle", nameGap: name === d.labels.lat ? 50 : 28,
               min: min, max: max, scale: true, splitLine: { lineStyle: { color: "#eef1f5" } },
               axisLabel: { color: "#66788a", fontSize: 11, showMinLabel: false, showMaxLabel: false,
                            formatter: function (v) { return v.toFixed(2); } },
               nameTextStyle: { color: "#66788a" } };
    };
    var series = ORDER.map(function (level) {
      return {
        name: d.labels[level], type: "scatter", symbolSize: 9, cursor: "pointer", itemStyle: { color: COLOURS[level], opacity: 0.85 },
        data: d.points.filter(function (p) { return p.urgency === level; }).map(function (p) {
          return { value: [p.lon, p.lat], id: p.id, name: p.name, category: p.category, left: p.left };
        })
      };
    });
    return {
      animation: false,
      grid: GRID,
      tooltip: {
        trigger: "item", confine: true,
        formatter: function (p) {
          var v = p.data;
          return "<strong>" + escapeHtml(v.id) + "</strong><br>" + escapeHtml(v.category + " " + v.name) + "<br>" + escapeHtml(v.left);
        }
      },
      xAxis: axis(d.labels.lon, b.xmin, b.xmax),
      yAxis: axis(d.labels.lat, b.ymin, b.ymax),
      series: series
    };
  }

  function initMap() {
    var d = readJson("case-map-data"), box = document.getElementById("case-map");
    if (!d || !box || !window.echarts) { return; }
    var chart = window.echarts.init(box, null, { renderer: "canvas" });
    chart.on("click", function (p) {
      if (p.data && p.data.id) { window.location.href = "/cases/" + encodeURIComponent(p.data.id); }
    });
    chart.on("finished", function () { window.__caseMapReady = true; });
    chart.setOption(mapOption(d, box));
    window.addEventListener("resize", function () { chart.resize(); chart.setOption(mapOption(d, box)); });
  }

  function initRanking() {
    var d = readJson("ranking-data"), box = document.getElementById("ranking-chart");
    if (!d || !box || !window.echarts) { return; }
    var chart = window.echarts.init(box, null, { renderer: "canvas" });
    chart.on("finished", function () { window.__rankingReady = true; });
    chart.setOption({
      animation: false,
      grid: { left: 8, right: 48, top: 8, bottom: 24, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true },
      xAxis: { type: "value", min: 0, max: 100, splitLine: { lineStyle: { color: "#eef1f5" } } },
      yAxis: { type: "category", data: d.names, axisTick: { show: false }, axisLabel: { color: "#44515e", fontSize: 12 } },
      series: [{
        name: d.label, type: "bar", data: d.scores, barMaxWidth: 22, itemStyle: { color: "#2f7fc1" },
        label: { show: true, position: "right", formatter: function (p) { return Number(p.value).toFixed(1); } }
      }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  /* Unit and period selectors submit themselves on change; their buttons stay for keyboards and no-script. */
  function initPickers() {
    document.querySelectorAll(".unit-picker select").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  ready(function () { initPickers(); initMap(); initRanking(); });
}());
