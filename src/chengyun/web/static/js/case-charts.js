/* Case console charts (ECharts, vendored): the workbench map of open cases and the department ranking's bars.
   Data comes from the page's <script type="application/json"> blocks (case-map-data, ranking-data), so no inline
   script is needed and the Content-Security-Policy stays at script-src 'self'. No map tiles: the map is a scatter
   on longitude/latitude axes drawn at equal scale. */
(function () {
  "use strict";

  var cy = window.cy, readJson = cy.readJson;
  var COLOURS = { overdue: "#c0392b", soon: "#d08a1e", ok: "#1a7f37", none: "#9aa7b4" };
  var ORDER = ["none", "ok", "soon", "overdue"];  // the most urgent drawn last, on top

  function initMap() {
    cy.pointMap({
      dataId: "case-map-data", boxId: "case-map", href: "/cases/", readyFlag: "__caseMapReady",
      colours: COLOURS, order: ORDER, symbol: 9,
      group: function (p) { return p.urgency; },
      item: function (p) { return { id: p.id, name: p.name, category: p.category, left: p.left }; },
      tooltip: function (v) {
        return "<strong>" + cy.escapeHtml(v.id) + "</strong><br>" + cy.escapeHtml(v.category + " " + v.name) + "<br>" +
          cy.escapeHtml(v.left);
      }
    });
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

  cy.ready(function () { initPickers(); initMap(); initRanking(); });
}());
