// Recovery-window countdowns: count down from the seconds the server computed with its own clock, so the page
// agrees with the vault even when the browser's clock is off.
(function () {
  "use strict";
  const started = performance.now();
  const counters = Array.from(document.querySelectorAll("[data-countdown]"));
  if (!counters.length) return;
  function show(element) {
    const left = Math.max(0, Number(element.dataset.countdown) - Math.floor((performance.now() - started) / 1000));
    if (left <= 0) { element.textContent = element.dataset.over; return; }
    const parts = {days: Math.floor(left / 86400), hours: Math.floor((left % 86400) / 3600),
      minutes: Math.floor((left % 3600) / 60), seconds: left % 60};
    element.textContent = element.dataset.format.replace(/\{(\w+)\}/g, (_, name) => String(parts[name]));
  }
  function tick() { counters.forEach(show); }
  tick();
  setInterval(tick, 1000);
})();
