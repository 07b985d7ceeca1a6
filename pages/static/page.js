// spotter's capability page: counts TTLs down and, while instances boot
// or stop, re-reads the instances section every few seconds. The page
// works without this script; it only saves a reload.
"use strict";
(function () {
  function countdown(ms) {
    if (ms <= 0) return "expired";
    var s = Math.round(ms / 1000), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return h > 0 ? h + "h " + pad(m) + "m" : m + "m " + pad(s % 60) + "s";
  }
  function tick() {
    var els = document.querySelectorAll("[data-expires]");
    for (var i = 0; i < els.length; i++) {
      var t = Date.parse(els[i].getAttribute("data-expires"));
      if (!isNaN(t)) els[i].textContent = countdown(t - Date.now());
    }
  }
  // Says what changed in a status line a screen reader reads (the
  // section itself is not live: its countdowns would be read every second).
  function announce(sec) {
    var st = document.getElementById("inst-status");
    if (!st) return;
    var items = sec.querySelectorAll(".inst"), parts = [];
    for (var i = 0; i < items.length; i++) {
      var state = items[i].querySelector(".state");
      parts.push(items[i].getAttribute("data-id") + " " + (state ? state.textContent : ""));
    }
    st.textContent = parts.length ? "Instances now: " + parts.join(", ") : "No instances";
  }
  function section() { return document.getElementById("instances"); }
  function schedule() {
    var s = section();
    if (!s || !s.getAttribute("data-poll")) return;
    // Booting or stopping: every 2 s; otherwise every 30 s. Each read is a
    // status task (an AWS call and an audit event), so a hidden tab waits
    // until it is shown again.
    setTimeout(function () {
      if (!document.hidden) return poll();
      document.addEventListener("visibilitychange", function once() {
        if (document.hidden) return;
        document.removeEventListener("visibilitychange", once);
        poll();
      });
    }, s.hasAttribute("data-busy") ? 2000 : 30000);
  }
  function poll() {
    var s = section();
    if (!s) return;
    fetch(s.getAttribute("data-poll"), { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (j) {
        var tpl = document.createElement("template");
        tpl.innerHTML = j.html; // rendered and escaped by the server's template
        var fresh = tpl.content.firstElementChild;
        if (fresh && fresh.id === "instances") {
          if (fresh.getAttribute("data-sig") !== s.getAttribute("data-sig")) {
            s.replaceWith(fresh);
            announce(fresh);
          }
          else if (!fresh.hasAttribute("data-busy")) s.removeAttribute("data-busy");
        }
        tick();
      })
      .catch(function () { /* keep the last view; try again later */ })
      .then(schedule);
  }
  tick();
  setInterval(tick, 1000);
  schedule();
})();
