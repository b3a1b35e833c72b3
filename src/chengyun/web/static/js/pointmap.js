/* The console's point maps (ECharts, vendored): cases on the workbench, assets on /assets. No map tiles (nothing is
   fetched from outside): a scatter on longitude/latitude axes drawn at equal scale. Pages hand their points over
   in a <script type="application/json"> block, so the Content-Security-Policy stays at script-src 'self'.
   Also the small helpers the console's chart scripts share (window.cy). */
(function () {
  "use strict";

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

  /* spec: points and labels (d), colours and order of the groups (drawn in order, the last on top), group(p) the
     point's group, item(p) the data kept for the tooltip, tooltip(item) its HTML, symbol its size. */
  function option(spec, box) {
    var d = spec.data, b = bounds(d.points, box.clientWidth, box.clientHeight);
    var axis = function (name, min, max) {
      return { type: "value", name: name, nameLocation: "middle", nameGap: name === d.labels.lat ? 50 : 28,
               min: min, max: max, scale: true, splitLine: { lineStyle: { color: "#eef1f5" } },
               axisLabel: { color: "#66788a", fontSize: 11, showMinLabel: false, showMaxLabel: false,
                            formatter: function (v) { return v.toFixed(2); } },
               nameTextStyle: { color: "#66788a" } };
    };
    var series = spec.order.map(function (group) {
      return {
        name: d.labels[group], type: "scatter", symbolSize: spec.symbol || 9, cursor: "pointer",
        itemStyle: { color: spec.colours[group], opacity: 0.88, borderColor: "#fff", borderWidth: spec.border || 0 },
        data: d.points.filter(function (p) { return spec.group(p) === group; }).map(function (p) {
          var item = spec.item(p);
          item.value = [p.lon, p.lat];
          return item;
        })
      };
    });
    return {
      animation: false, grid: GRID,
      tooltip: { trigger: "item", confine: true, formatter: function (p) { return spec.tooltip(p.data); } },
      xAxis: axis(d.labels.lon, b.xmin, b.xmax), yAxis: axis(d.labels.lat, b.ymin, b.ymax), series: series
    };
  }

  /* Draw the map in #boxId from #dataId; a click on a point opens href + its id; window[readyFlag] once drawn. */
  function mount(spec) {
    spec.data = readJson(spec.dataId);
    var box = document.getElementById(spec.boxId);
    if (!spec.data || !box || !window.echarts) { return; }
    var chart = window.echarts.init(box, null, { renderer: "canvas" });
    chart.on("click", function (p) {
      if (p.data && p.data.id) { window.location.href = spec.href + encodeURIComponent(p.data.id); }
    });
    chart.on("finished", function () { window[spec.readyFlag] = true; });
    chart.setOption(option(spec, box));
    window.addEventListener("resize", function () { chart.resize(); chart.setOption(option(spec, box)); });
  }

  window.cy = { ready: ready, readJson: readJson, escapeHtml: escapeHtml, pointMap: mount };
}());
