// Case workbench and case page: keep the SLA countdowns (剩余时间) current without reloading.
(function () {
  "use strict";
  var SOON_HOURS = 4;

  function words(hours, lang) {
    var minutes = Math.round(Math.abs(hours) * 60);
    var days = Math.floor(minutes / 1440), rest = minutes % 1440;
    var h = Math.floor(rest / 60), m = rest % 60, en = lang === "en", span;
    if (days) { span = en ? days + " d " + h + " h" : days + "天" + h + "小时"; }
    else if (h) { span = en ? h + " h " + m + " min" : h + "小时" + m + "分"; }
    else { span = en ? m + " min" : m + "分"; }
    if (hours < 0) { return en ? span + " overdue" : "超时 " + span; }
    return en ? span + " left" : "剩余 " + span;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var hours = (Date.parse(el.getAttribute("data-due")) - now) / 3600000;
      if (isNaN(hours)) { return; }
      var level = hours < 0 ? "overdue" : (hours <= SOON_HOURS ? "soon" : "ok");
      el.textContent = words(hours, el.getAttribute("data-lang"));
      el.classList.remove("urgency-overdue", "urgency-soon", "urgency-ok");
      el.classList.add("urgency-" + level);
    });
  }

  setInterval(tick, 30000);
})();
