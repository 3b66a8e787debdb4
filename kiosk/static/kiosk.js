// The kiosk's only script: the on-screen keypad, and the idle timeout (docs/kiosk.md).
// The server refuses an idle session whatever this script does; this only makes the screen
// return to the welcome page on time, so the next person never sees the last one's data.
"use strict";

(function () {
  const body = document.body;

  // --- keypad: types into the last focused field (the ID number first) -------------------
  const targets = Array.from(document.querySelectorAll("[data-keypad-target]"));
  let target = targets[0] || null;
  targets.forEach(function (el) {
    el.addEventListener("focus", function () { target = el; });
  });
  document.querySelectorAll(".keypad [data-key]").forEach(function (key) {
    key.addEventListener("click", function () {
      if (!target) return;
      const k = key.dataset.key;
      if (k === "back") target.value = target.value.slice(0, -1);
      else if (k === "clear") target.value = "";
      else if (k === "X" && target.hasAttribute("data-digits-only")) return;
      else if (target.value.length < target.maxLength) target.value += k;
      // Moving on to the PIN once the ID number is complete saves a touch.
      if (target.id === "id_number" && target.value.length === target.maxLength && targets[1]) {
        target = targets[1];
      }
      target.focus();
    });
  });

  // --- idle timeout ------------------------------------------------------------------------
  const mode = body.dataset.idleMode;
  const seconds = Number(body.dataset.idleSeconds || 0);
  if (!mode || !seconds) return;
  const WARN = 15;
  let deadline = Date.now() + seconds * 1000;
  const warning = document.getElementById("idle-warning");
  const text = document.getElementById("idle-text");
  const stillHere = document.getElementById("still-here");

  function leave() {
    clearInterval(timer);
    if (mode === "session") {
      // Forget the trainee on the server too, then show the welcome screen.
      fetch("/kiosk/sign-out", { method: "POST", credentials: "same-origin", keepalive: true })
        .catch(function () {})
        .finally(function () { location.replace("/kiosk?timeout=1"); });
    } else {
      location.replace("/kiosk");
    }
  }

  if (mode === "page") {
    // Nothing on the server to keep alive: any touch or key restarts the count.
    ["pointerdown", "keydown", "input"].forEach(function (name) {
      document.addEventListener(name, function () { deadline = Date.now() + seconds * 1000; });
    });
  }

  if (stillHere) {
    stillHere.addEventListener("click", function () {
      fetch("/kiosk/still-here", { method: "POST", credentials: "same-origin" })
        .then(function (r) {
          if (r.status !== 204) { leave(); return; }
          deadline = Date.now() + seconds * 1000;
          warning.hidden = true;
        })
        .catch(leave);
    });
  }

  const timer = setInterval(function () {
    const left = Math.ceil((deadline - Date.now()) / 1000);
    if (left <= 0) { leave(); return; }
    if (warning && left <= WARN) {
      text.textContent = text.dataset.template.replace("{s}", String(left));
      if (warning.hidden) { warning.hidden = false; stillHere.focus(); }
    }
  }, 250);

  // A page brought back by the Back button after signing out must ask the server again.
  window.addEventListener("pageshow", function (e) { if (e.persisted) location.reload(); });
})();
