// The kiosk's exam pages (docs/kiosk-exams.md): the timer, answers saved as given, the idle time.
// The server is the truth: the timer counts down from the seconds the server sent (and is reset
// from every answer it saves); an answer is shown "saved" only once the server said so. Without
// this script the question's form still saves through its own POST.
"use strict";

(function () {
  const exam = document.getElementById("exam");
  if (!exam) return;
  const paper = exam.dataset.paper;
  const resultUrl = exam.dataset.resultUrl;

  // --- the timer: the server's remaining seconds, counted on the monotonic clock -------------
  const timerValue = document.getElementById("timer-value");
  const timeUp = document.getElementById("time-up");
  let endsAt = performance.now() + Number(exam.dataset.remaining) * 1000;
  let over = false;

  function setRemaining(seconds) { endsAt = performance.now() + seconds * 1000; }

  function showTime() {
    const left = Math.max(0, Math.ceil((endsAt - performance.now()) / 1000));
    timerValue.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    timerValue.classList.toggle("low", left <= 300);
    if (left === 0 && !over) checkTime();
  }

  function finish() {
    over = true;
    timeUp.hidden = false;
    setTimeout(function () { location.replace(resultUrl); }, 2500);
  }

  // At zero ask the server: its clock decides (a second or two either way is its call).
  function checkTime() {
    over = true;
    fetch("/kiosk/exams/" + paper + "/time", { credentials: "same-origin" })
      .then(function (r) {
        if (r.redirected) { location.replace(r.url); return null; }
        return r.json();
      })
      .then(function (body) {
        if (!body) return;
        if (body.status === "in_progress" && body.remaining_seconds > 0) {
          setRemaining(body.remaining_seconds);
          over = false;
        } else {
          finish();
        }
      })
      .catch(function () { over = false; });
  }

  // --- answers, saved the moment they are given ------------------------------------------------
  const form = document.getElementById("question-form");
  const state = document.getElementById("save-state");
  let pending = null;
  let retryDelay = 1000;
  let retryTimer = null;

  function chosen() {
    return Array.from(form.querySelectorAll("input[name=chosen]:checked")).map(function (i) {
      return i.value;
    });
  }

  function say(text, kind) {
    state.textContent = text;
    state.dataset.state = kind;
  }

  function save() {
    clearTimeout(retryTimer);
    const body = { chosen: chosen(), position: Number(form.dataset.position) };
    pending = body;
    say(form.dataset.savingText, "saving");
    fetch("/kiosk/exams/" + paper + "/answers/" + encodeURIComponent(form.dataset.question), {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    })
      .then(function (r) {
        if (r.redirected) { location.replace(r.url); return; } // signed out meanwhile
        return r.json().then(function (answer) {
          if (pending !== body) return; // a later choice is on its way
          if (r.ok) {
            pending = null;
            retryDelay = 1000;
            say(form.dataset.savedText, "saved");
            setRemaining(answer.remaining_seconds);
          } else if (r.status === 409 && answer.error === "exam_closed") {
            pending = null;
            say("⚠ " + answer.message, "refused");
            finish();
          } else if (r.status >= 500) {
            throw new Error(answer.message);
          } else {
            pending = null;
            say("⚠ " + answer.message, "refused");
          }
        });
      })
      .catch(function () {
        if (pending !== body) return;
        say(form.dataset.retryText, "retrying");
        retryTimer = setTimeout(save, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 10000);
      });
  }

  if (form) {
    form.querySelectorAll("input[name=chosen]").forEach(function (input) {
      input.addEventListener("change", save);
    });
  }

  // --- idle: longer on exam pages; any touch restarts it; the server session is kept alive ---
  const idleSeconds = Number(exam.dataset.idleSeconds);
  const serverIdle = Number(exam.dataset.serverIdleSeconds);
  const WARN = Math.min(30, Math.floor(idleSeconds / 2));
  const warning = document.getElementById("exam-idle");
  const warningText = document.getElementById("exam-idle-text");
  const stillHere = document.getElementById("exam-still-here");
  let idleDeadline = Date.now() + idleSeconds * 1000;

  function active() {
    idleDeadline = Date.now() + idleSeconds * 1000;
    if (!warning.hidden) warning.hidden = true;
  }
  ["pointerdown", "keydown", "input", "scroll"].forEach(function (name) {
    document.addEventListener(name, active, { passive: true });
  });
  stillHere.addEventListener("click", active);

  let leaving = false;
  function signOut() {
    if (leaving) return;
    leaving = true;
    fetch("/kiosk/sign-out", { method: "POST", credentials: "same-origin", keepalive: true })
      .catch(function () {})
      .finally(function () { location.replace("/kiosk?timeout=1"); });
  }

  // Every few seconds less than the server's idle time: ask the time (which keeps the server's
  // session alive) while this page's own idle time runs.
  const keepAliveEvery = Math.max(2, Math.floor(serverIdle / 3)) * 1000;
  let lastKeepAlive = Date.now();
  function keepAlive() {
    lastKeepAlive = Date.now();
    fetch("/kiosk/exams/" + paper + "/time", { credentials: "same-origin" })
      .then(function (r) {
        if (r.redirected) { location.replace(r.url); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (body) {
        if (!body || over) return;
        if (body.status !== "in_progress") finish();
        else setRemaining(body.remaining_seconds);
      })
      .catch(function () {});
  }

  setInterval(function () {
    showTime();
    const left = Math.ceil((idleDeadline - Date.now()) / 1000);
    if (left <= 0) { signOut(); return; }
    if (left <= WARN) {
      warningText.textContent = warningText.dataset.template.replace("{s}", String(left));
      if (warning.hidden) { warning.hidden = false; stillHere.focus(); }
    }
    if (Date.now() - lastKeepAlive >= keepAliveEvery) keepAlive();
  }, 250);
  showTime();

  window.addEventListener("pageshow", function (e) { if (e.persisted) location.reload(); });
})();
