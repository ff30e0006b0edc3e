// The player: speed, one-frame steps, original/proxy switch, and a watermark the page cannot remove.
(function () {
  "use strict";
  var stage = document.querySelector("[data-player]");
  if (!stage) { return; }
  var media = stage.querySelector("video");
  var template = stage.querySelector("[data-watermark]").cloneNode(true);
  var mark = stage.querySelector("[data-watermark]");
  var clockFormat = new Intl.DateTimeFormat("sv-SE", {
    timeZone: stage.dataset.zone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"
  });
  var fixedText = ["[data-watermark-viewer]", "[data-watermark-grant]"].map(function (selector) {
    return [selector, template.querySelector(selector).textContent];
  });

  function tampered(node) {
    if (!node.isConnected || node.parentNode !== stage || stage.lastElementChild !== node) { return true; }
    if (node.hasAttribute("style") || node.hidden || node.className !== template.className) { return true; }
    var bad = fixedText.some(function (pair) {
      var part = node.querySelector(pair[0]);
      return !part || part.textContent !== pair[1];
    });
    var look = window.getComputedStyle(node);
    return bad || look.display === "none" || look.visibility !== "visible" || Number(look.opacity) < 0.9;
  }

  function tick() {
    var clock = mark.querySelector("[data-watermark-clock]");
    var now = clockFormat.format(new Date());
    if (clock && clock.textContent !== now) { clock.textContent = now; }
  }

  // Removing, hiding or editing the watermark puts a fresh one back (a viewer's DOM tools included).
  function guard() {
    if (!tampered(mark)) { return; }
    if (mark.isConnected) { mark.remove(); }
    mark = template.cloneNode(true);
    stage.appendChild(mark);
    tick();
  }

  new MutationObserver(guard).observe(stage, { childList: true, subtree: true, attributes: true, characterData: true });
  new MutationObserver(guard).observe(document.documentElement, { attributes: true, subtree: true, attributeFilter: ["style", "class", "hidden"] });
  window.setInterval(function () { guard(); tick(); }, 1000);
  tick();

  var full = document.querySelector("[data-fullscreen]");
  if (full) {
    full.addEventListener("click", function () {
      if (document.fullscreenElement) { document.exitFullscreen(); } else { stage.requestFullscreen(); }
    });
  }
  if (!media) { return; }

  var frameRate = Number(stage.dataset.frameRate) || 25;
  var position = document.querySelector("[data-position]");
  function showPosition() {
    if (position) { position.textContent = media.currentTime.toFixed(3) + " s"; }
  }
  media.addEventListener("timeupdate", showPosition);
  media.addEventListener("seeked", showPosition);

  var speed = document.querySelector("[data-speed]");
  if (speed) {
    speed.addEventListener("change", function () { media.playbackRate = Number(speed.value); });
  }
  document.querySelectorAll("[data-step]").forEach(function (button) {
    button.addEventListener("click", function () {
      media.pause();
      var target = media.currentTime + Number(button.dataset.step) / frameRate;
      media.currentTime = Math.min(Math.max(target, 0), media.duration || target);
    });
  });
  document.querySelectorAll("[data-variant]").forEach(function (button) {
    button.addEventListener("click", function () {
      var at = media.currentTime;
      var paused = media.paused;
      var rate = media.playbackRate;
      media.src = button.dataset.src;
      media.addEventListener("loadedmetadata", function () {
        media.currentTime = at;
        media.playbackRate = rate;
        if (!paused) { media.play(); }
      }, { once: true });
      document.querySelectorAll("[data-variant]").forEach(function (other) {
        other.setAttribute("aria-pressed", String(other === button));
      });
    });
  });
})();
