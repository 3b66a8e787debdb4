// The kiosk's camera: show it, send a JPEG of it a few times a second; the server reads the QR.
(function () {
  "use strict";
  var box = document.querySelector(".scan");
  if (!box) return;
  var video = box.querySelector(".scan-video");
  var canvas = box.querySelector(".scan-canvas");
  var status = box.querySelector(".scan-status");
  var again = box.querySelector(".scan-again");
  var url = box.getAttribute("data-scan-url");
  var busy = false, paused = false, timer = null;

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

  function send() {
    if (busy || paused || !video.videoWidth) return;
    busy = true;
    canvas.width = Math.min(video.videoWidth, 1280);
    canvas.height = Math.round(canvas.width * video.videoHeight / video.videoWidth);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    canvas.toBlob(function (blob) {
      fetch(url, { method: "POST", body: blob, headers: { "Content-Type": "image/jpeg" },
                   credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          if (answer.status === "signed_in") {
            clearInterval(timer);
            say("✔", box.getAttribute("data-msg-signed-in"), "ok");
            window.location.assign(answer.next);
          } else if (answer.status === "refused") {
            pause("⚠", answer.message);  // wait for a touch: one bad badge is one failure
          } else if (answer.status === "not_a_badge") {
            say("ⓘ", box.getAttribute("data-msg-not-badge"));
          } else {
            say("◌", box.getAttribute("data-msg-hold"));
          }
        })
        .catch(function () { say("◌", box.getAttribute("data-msg-hold")); })
        .then(function () { busy = false; });
    }, "image/jpeg", 0.8);
  }

  again.addEventListener("click", function () {
    paused = false;
    again.hidden = true;
    say("◌", box.getAttribute("data-msg-hold"));
  });

  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    pause("⚠", box.getAttribute("data-msg-no-camera"));
    again.hidden = true;
    return;
  }
  navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false })
    .then(function (stream) {
      video.srcObject = stream;
      say("◌", box.getAttribute("data-msg-hold"));
      timer = setInterval(send, 300);
    })
    .catch(function () {
      pause("⚠", box.getAttribute("data-msg-no-camera"));
      again.hidden = true;
    });
})();
