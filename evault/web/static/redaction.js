// The redaction page's player: the boxes drawn over the video where the render will hide them, and drawing new ones.
(function () {
  "use strict";
  var stage = document.querySelector("[data-redaction-stage]");
  if (!stage) { return; }
  var SVG = "http://www.w3.org/2000/svg";
  var video = stage.querySelector("video");
  var layer = stage.querySelector("svg");
  var overlay = JSON.parse(stage.dataset.overlay || "{}");
  var position = document.querySelector("[data-position]");
  var drawButton = document.querySelector("[data-draw]");
  var frame = { w: 0, h: 0 };
  var draft = null;     // the box drawn last, as fractions of the frame: {x, y, w, h}
  var dragging = null;  // where a drag started, in frame pixels
  var remembered = "redaction-time-" + stage.dataset.edit;

  // Python's round(): halves go to the even neighbour. The renderer sizes boxes with it.
  function roundHalfEven(value) {
    var low = Math.floor(value);
    var rest = value - low;
    if (rest > 0.5) { return low + 1; }
    if (rest < 0.5) { return low; }
    return low % 2 === 0 ? low : low + 1;
  }

  // A region's keyframe intervals, as vault.redaction.media._segments makes them for ffmpeg: the centre moves in a
  // straight line, the size is the larger of the two keyframes', and a region held after its last keyframe stays put.
  function segments(region) {
    var keys = region.keyframes;
    var last = keys[keys.length - 1];
    var end = region.hold_until === null || region.hold_until === undefined ? last.t : region.hold_until;
    var pairs = [];
    for (var i = 0; i + 1 < keys.length; i++) { pairs.push([keys[i], keys[i + 1]]); }
    if (end > last.t) { pairs.push([last, last]); }
    return pairs.map(function (pair) {
      var a = pair[0], b = pair[1];
      return {
        t0: a.t, t1: b !== a ? b.t : end, w: Math.max(a.w, b.w), h: Math.max(a.h, b.h),
        ax: a.x + a.w / 2, bx: b.x + b.w / 2, ay: a.y + a.h / 2, by: b.y + b.h / 2
      };
    });
  }

  function lerp(a, b, t0, t1, t) {
    if (t1 <= t0 || a === b) { return a; }
    return a + (b - a) * (t - t0) / (t1 - t0);
  }

  // The boxes (in frame pixels) a region hides at time t; at a keyframe two intervals meet and both apply.
  function boxesAt(region, t) {
    return segments(region).filter(function (s) { return s.t0 <= t && t <= s.t1; }).map(function (s) {
      var width = Math.max(2, Math.floor(roundHalfEven(s.w * frame.w) / 2) * 2);
      var height = Math.max(2, Math.floor(roundHalfEven(s.h * frame.h) / 2) * 2);
      var cx = lerp(s.ax, s.bx, s.t0, s.t1, t), cy = lerp(s.ay, s.by, s.t0, s.t1, t);
      return {
        x: Math.max(0, Math.min(frame.w - width, cx * frame.w - width / 2)),
        y: Math.max(0, Math.min(frame.h - height, cy * frame.h - height / 2)), w: width, h: height
      };
    });
  }

  function rect(box, kind, label) {
    var node = document.createElementNS(SVG, "rect");
    node.setAttribute("class", kind);
    node.setAttribute("x", box.x.toFixed(2));
    node.setAttribute("y", box.y.toFixed(2));
    node.setAttribute("width", box.w.toFixed(2));
    node.setAttribute("height", box.h.toFixed(2));
    node.setAttribute("data-testid", "overlay-" + kind);
    node.setAttribute("data-label", label);
    layer.appendChild(node);
    if (label) {
      var text = document.createElementNS(SVG, "text");
      text.setAttribute("x", (box.x + 4).toFixed(2));
      text.setAttribute("y", Math.max(box.y - 6, 14).toFixed(2));
      text.setAttribute("class", "label " + kind);
      text.textContent = label;
      layer.appendChild(text);
    }
  }

  function draw() {
    if (!frame.w) { return; }
    var t = video.currentTime;
    while (layer.firstChild) { layer.removeChild(layer.firstChild); }
    (overlay.regions || []).forEach(function (region, index) {
      boxesAt(region, t).forEach(function (box) { rect(box, "region", String(index + 1)); });
    });
    (overlay.suggestions || []).forEach(function (suggestion) {
      boxesAt(suggestion, t).forEach(function (box) { rect(box, "suggestion", suggestion.id); });
    });
    if (draft) {
      rect({ x: draft.x * frame.w, y: draft.y * frame.h, w: draft.w * frame.w, h: draft.h * frame.h }, "draft", "");
    }
    if (position) { position.textContent = t.toFixed(2) + " s"; }
  }

  function loop() {
    draw();
    if (!video.paused && !video.ended) { window.requestAnimationFrame(loop); }
  }

  video.addEventListener("loadedmetadata", function () {
    frame = { w: video.videoWidth, h: video.videoHeight };
    layer.setAttribute("viewBox", "0 0 " + frame.w + " " + frame.h);
    var at = Number(window.sessionStorage.getItem(remembered));
    window.sessionStorage.removeItem(remembered);
    if (at > 0 && at < video.duration) { video.currentTime = at; }
    draw();
  });
  ["play", "seeked", "timeupdate"].forEach(function (name) { video.addEventListener(name, loop); });

  // Where a pointer is over the picture, in frame pixels (the layer letterboxes exactly as the video does).
  function pointAt(event) {
    var point = layer.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    var inside = point.matrixTransform(layer.getScreenCTM().inverse());
    return { x: Math.min(Math.max(inside.x, 0), frame.w), y: Math.min(Math.max(inside.y, 0), frame.h) };
  }

  function boxBetween(a, b) {
    var round = function (value) { return Math.round(value * 10000) / 10000; };
    var x = Math.min(a.x, b.x) / frame.w, y = Math.min(a.y, b.y) / frame.h;
    var w = Math.abs(a.x - b.x) / frame.w, h = Math.abs(a.y - b.y) / frame.h;
    return { x: round(x), y: round(y), w: Math.min(round(w), round(1 - round(x))), h: Math.min(round(h), round(1 - round(y))) };
  }

  function useDraft() {
    document.querySelectorAll("[data-box-form]").forEach(function (form) {
      ["x", "y", "w", "h"].forEach(function (key) { form.querySelector("[data-box=" + key + "]").value = String(draft[key]); });
      form.querySelectorAll("[data-time-now]").forEach(function (field) { field.value = video.currentTime.toFixed(2); });
      form.querySelectorAll("[data-needs-box]").forEach(function (button) { button.disabled = false; });
      var shown = form.querySelector("[data-box-shown]");
      if (shown) {
        shown.textContent = "x " + draft.x + " · y " + draft.y + " · w " + draft.w + " · h " + draft.h + " @ " + video.currentTime.toFixed(2) + " s";
      }
    });
  }

  layer.addEventListener("pointerdown", function (event) {
    if (stage.dataset.drawing !== "true" || !frame.w) { return; }
    event.preventDefault();
    video.pause();
    layer.setPointerCapture(event.pointerId);
    dragging = pointAt(event);
  });
  layer.addEventListener("pointermove", function (event) {
    if (!dragging) { return; }
    draft = boxBetween(dragging, pointAt(event));
    draw();
  });
  layer.addEventListener("pointerup", function (event) {
    if (!dragging) { return; }
    var box = boxBetween(dragging, pointAt(event));
    dragging = null;
    if (box.w * frame.w < 4 || box.h * frame.h < 4) { return; }  // a click, not a box
    draft = box;
    useDraft();
    draw();
  });

  if (drawButton) {
    drawButton.addEventListener("click", function () {
      var on = stage.dataset.drawing !== "true";
      stage.dataset.drawing = String(on);
      drawButton.setAttribute("aria-pressed", String(on));
      if (on) { video.pause(); }
    });
  }
  document.querySelectorAll("[data-take-time]").forEach(function (button) {
    button.addEventListener("click", function () {
      document.getElementById(button.dataset.takeTime).value = video.currentTime.toFixed(2);
    });
  });
  // Each form reloads the page: come back to the same moment of the video.
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () { window.sessionStorage.setItem(remembered, String(video.currentTime)); });
  });
})();
