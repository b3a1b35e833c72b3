/* Evaluation page: radar and trend charts (ECharts, vendored) and folding of the score tree.
   Chart data comes from the page's <script type="application/json" id="chart-data"> block, so no inline
   script is needed and the Content-Security-Policy can stay at script-src 'self'. */
(function () {
  "use strict";

  var BAND_COLOURS = ["rgba(200,208,218,0.18)", "rgba(245,200,110,0.16)", "rgba(110,165,230,0.14)",
                      "rgba(90,190,130,0.15)", "rgba(160,120,220,0.14)", "rgba(230,120,110,0.14)"];
  var PALETTE = ["#1d4f91", "#0e7c86", "#d08a1e", "#7b5ea7", "#c0392b", "#3a8d3f", "#5d6d7e", "#b0578d"];

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  function once(fn) {
    var done = false;
    return function () { if (!done) { done = true; fn(); } };
  }

  /* Long (English) axis names break onto a second line instead of running off the card. */
  function wrap(name) {
    if (name.length <= 16 || name.indexOf(" ") < 0) { return name; }
    var words = name.split(" "), lines = [""];
    words.forEach(function (w) {
      var last = lines.length - 1;
      if (lines[last] && (lines[last] + " " + w).length > 16) { lines.push(w); } else { lines[last] = lines[last] ? lines[last] + " " + w : w; }
    });
    return lines.join("\n");
  }

  function radarOption(r) {
    var series = [{
      value: r.current, name: r.labels.current, symbolSize: 5,
      areaStyle: { color: "rgba(29,79,145,0.22)" }, lineStyle: { width: 2, color: PALETTE[0] },
      itemStyle: { color: PALETTE[0] }
    }];
    if (r.previous) {
      series.push({
        value: r.previous, name: r.labels.previous, symbolSize: 3,
        lineStyle: { width: 1.5, type: "dashed", color: "#9aa7b4" }, itemStyle: { color: "#9aa7b4" }
      });
    }
    return {
      color: PALETTE,
      tooltip: { trigger: "item", confine: true },
      legend: { bottom: 0, data: series.map(function (s) { return s.name; }) },
      radar: {
        indicator: r.indicators, radius: "60%", center: ["50%", "48%"], splitNumber: 4,
        axisName: { color: "#44515e", fontSize: 12, formatter: wrap },
        splitArea: { areaStyle: { color: ["#fbfcfe", "#f3f6fa"] } },
        splitLine: { lineStyle: { color: "#dfe5ec" } }, axisLine: { lineStyle: { color: "#dfe5ec" } }
      },
      series: [{ type: "radar", data: series }]
    };
  }

  /* A radar needs three axes; with fewer first-level nodes the same numbers are drawn as bars. */
  function barOption(r) {
    var names = r.indicators.map(function (i) { return i.name; });
    var series = [{ name: r.labels.current, type: "bar", data: r.current, barMaxWidth: 22, itemStyle: { color: PALETTE[0] },
                    label: { show: true, position: "right" } }];
    if (r.previous) {
      series.push({ name: r.labels.previous, type: "bar", data: r.previous, barMaxWidth: 22, itemStyle: { color: "#b8c2cc" } });
    }
    series.push({ name: "max", type: "scatter", symbol: "rect", symbolSize: [3, 22], silent: true, z: 3,
                  data: r.indicators.map(function (i) { return i.max; }), itemStyle: { color: "#c0392b" },
                  tooltip: { show: false } });
    return {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true },
      legend: { bottom: 0, data: series.slice(0, -1).map(function (s) { return s.name; }) },
      grid: { left: 8, right: 40, top: 16, bottom: 40, containLabel: true },
      xAxis: { type: "value", splitLine: { lineStyle: { color: "#eef1f5" } } },
      yAxis: { type: "category", data: names, inverse: true },
      series: series
    };
  }

  function trendOption(t) {
    var bands = t.stages.map(function (s, i) {
      return [{ yAxis: s.min, name: s.name, itemStyle: { color: BAND_COLOURS[i % BAND_COLOURS.length] } },
              { yAxis: s.end }];
    });
    var series = [{
      name: t.total_label, type: "line", data: t.totals, smooth: false, symbolSize: 8, z: 5,
      lineStyle: { width: 3 }, itemStyle: { color: PALETTE[0] },
      label: { show: true, position: "top", fontWeight: 600, formatter: function (p) {
        return p.value == null ? "" : Number(p.value).toFixed(1);
      } },
      markArea: { silent: true, label: { position: "right", color: "#8795a3", fontSize: 11 }, data: bands },
      markLine: { silent: true, symbol: "none", label: { show: false },
                  lineStyle: { color: "#c0392b", type: "dashed" }, data: [{ xAxis: t.current }] }
    }];
    var selected = {};
    t.series.forEach(function (s, i) {
      series.push({ name: s.name, type: "line", data: s.data, symbolSize: 4, lineStyle: { width: 1.2 },
                    itemStyle: { color: PALETTE[(i + 1) % PALETTE.length] }, connectNulls: false });
      selected[s.name] = false;  // first-level lines sit low on the 0–100 axis: shown on demand from the legend
    });
    return {
      tooltip: { trigger: "axis", confine: true },
      legend: { type: "scroll", bottom: 0, selected: selected },
      grid: { left: 44, right: 96, top: 24, bottom: 56 },
      xAxis: { type: "category", data: t.periods, boundaryGap: true, axisLine: { lineStyle: { color: "#b8c2cc" } },
               axisLabel: { color: "#44515e" } },
      yAxis: { type: "value", min: 0, max: t.max, splitLine: { lineStyle: { color: "#eef1f5" } } },
      series: series
    };
  }

  function initCharts() {
    var holder = document.getElementById("chart-data");
    if (!holder || !window.echarts) { return; }
    var data = JSON.parse(holder.textContent);
    var pending = 2;
    var finished = function () { pending -= 1; if (pending === 0) { window.__chartsReady = true; } };
    var first = data.radar.indicators.length >= 3 ? radarOption(data.radar) : barOption(data.radar);
    var charts = [["chart-radar", first], ["chart-trend", trendOption(data.trend)]];
    charts.forEach(function (entry) {
      var chart = window.echarts.init(document.getElementById(entry[0]), null, { renderer: "canvas" });
      chart.on("finished", once(finished));
      chart.setOption(entry[1]);
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  /* Folding: a group's ▾ hides every row below it; unfolding shows the rows whose groups are all open. */
  function initTree() {
    var table = document.getElementById("node-tree");
    if (!table) { return; }
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
    var byId = {};
    rows.forEach(function (r) { byId[r.dataset.id] = r; });
    function visible(row) {
      var parent = byId[row.dataset.parent];
      while (parent) {
        var btn = parent.querySelector(".fold");
        if (btn && btn.getAttribute("aria-expanded") === "false") { return false; }
        parent = byId[parent.dataset.parent];
      }
      return true;
    }
    table.addEventListener("click", function (ev) {
      var btn = ev.target.closest(".fold");
      if (!btn) { return; }
      btn.setAttribute("aria-expanded", btn.getAttribute("aria-expanded") === "false" ? "true" : "false");
      rows.forEach(function (r) { r.classList.toggle("hidden", !visible(r)); });
    });
  }

  ready(function () { initTree(); initCharts(); });
}());
