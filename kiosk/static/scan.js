// The kiosk's camera: show it, send a JPEG of it a few times a second; the server reads the QR.
// One script for every scan: the page's .scan box says where frames go (data-scan-url), what
// to say (data-msg-hold, -wrong, -no-camera, -done) and, with data-scan-open, which button
// opens the camera (else it opens at once). An answer with `next` is a success: go there.
(function () {
  "use strict";
  var box = document.querySelector(".scan");
  if (!box) return;
  var video = box.querySelector(".scan-video");
  var canvas = box.querySelector(".scan-canvas");
  var status = box.querySelector(".scan-status");
  var again = box.querySelector(".scan-again");
  var close = box.querySelector(".scan-close");
  var opener = box.hasAttribute("data-scan-open") ?
    document.querySelector(box.getAttribute("data-scan-open")) : null;
  var url = box.getAttribute("data-scan-url");
  var starting = status.textContent.slice(2);  // "Starting the camera…", without its symbol
  var busy = false, paused = false, timer = null, stream = null;

  function msg(name) { return box.getAttribute("data-msg-" + name); }

  function say(symbol, text, kind) {
    status.textContent = symbol + " " + text;
    status.className = "scan-status big" + (kind ? " " + kind : "");
  }

  function pause(symbol, text) {
    paused = true;
    say(symbol, text, "error");
    again.hidden = false;
    again.focus();
  }

  function noCamera() {
    pause("⚠", msg("no-camera"));
    again.hidden = true;
  }

  function send() {
    if (busy || paused || !video.videoWidth) return;
    busy = true;
    canvas.width = Math.min(video.videoWidth, 1280);
    canvas.height = Math.round(canvas.width * video.videoHeight / video.videoWidth);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    canvas.toBlob(function (blob) {
      fetch(url, { method: "POST", body: blob, headers: { "Content-Type": "image/jpeg" },
                   credentials: "same-origin" })
        .then(function (r) {
          if (r.redirected) {  // signed out or not set up: the server sends the screen there
            window.location.assign(r.url);
            return { status: "none" };
          }
          return r.json();
        })
        .then(function (answer) {
          if (answer.next) {
            stop();
            say("✔", msg("done"), "ok");
            window.location.assign(answer.next);
          } else if (answer.status === "refused") {
            pause("⚠", answer.message);  // wait for a touch: one bad code is one failure
          } else if (answer.status === "none") {
            say("◌", msg("hold"));
          } else {
            say("ⓘ", msg("wrong"));  // a QR, but not the kind this page reads
          }
        })
        .catch(function () { say("◌", msg("hold")); })
        .then(function () { busy = false; });
    }, "image/jpeg", 0.8);
  }

  function stop() {
    clearInterval(timer);
    timer = null;
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
  }

  function start() {
    paused = false;
    again.hidden = true;
    say("◌", starting);
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      noCamera();
      return;
    }
    navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        say("◌", msg("hold"));
        timer = setInterval(send, 300);
      })
      .catch(noCamera);
  }

  again.addEventListener("click", function () {
    paused = false;
    again.hidden = true;
    say("◌", msg("hold"));
  });

  if (!opener) {
    start();
    return;
  }
  opener.addEventListener("click", function () {
    opener.hidden = true;
    box.hidden = false;
    start();
    box.scrollIntoView({ block: "start" });
  });
  if (close) {
    close.addEventListener("click", function () {
      stop();
      box.hidden = true;
      opener.hidden = false;
      opener.focus();
    });
  }
})();
