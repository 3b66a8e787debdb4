// Progressive enhancement of the practical checklist: each change is saved in the background
// (the same POST as "save and calculate") and the outcome at the top is replaced with the
// server's, so the total, the veto outcome and the missing items follow the marking. The form
// works the same without JavaScript.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosave]");
  if (!form) return;
  var status = form.querySelector("[data-autosave-status]");
  var busy = false;
  var again = false;
  var timer = null;

  function say(key) {
    if (status) status.textContent = form.getAttribute(key) || "";
  }

  // A deduction counted on an item not yet marked marks it as done (the server reads it so too).
  function markDone(input) {
    var code = input.getAttribute("data-counts");
    if (!code || !(parseInt(input.value, 10) > 0)) return;
    var radios = form.querySelectorAll('input[type="radio"]');
    var chosen = null;
    var done = null;
    for (var i = 0; i < radios.length; i++) {
      if (radios[i].name !== "state:" + code) continue;
      if (radios[i].checked) chosen = radios[i];
      if (radios[i].value === "done") done = radios[i];
    }
    if (done && (!chosen || chosen.value === "")) done.checked = true;
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var parts = doc.querySelectorAll("[data-swap][id]");
    for (var i = 0; i < parts.length; i++) {
      var old = document.getElementById(parts[i].id);
      if (old) old.replaceWith(document.importNode(parts[i], true));
    }
  }

  function save() {
    if (busy) { again = true; return; }
    busy = true;
    say("data-msg-saving");
    var data = new FormData(form);
    data.set("action", "save");
    fetch(form.action, {
      method: "POST",
      body: data,
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.text().then(function (html) {
          swap(html);
          say(response.ok ? "data-msg-saved" : "data-msg-failed");
        });
      })
      .catch(function () { say("data-msg-failed"); })
      .then(function () {
        busy = false;
        if (again) { again = false; save(); }
      });
  }

  form.addEventListener("change", function (event) {
    if (event.target && event.target.getAttribute) markDone(event.target);
    window.clearTimeout(timer);
    timer = window.setTimeout(save, 250);
  });
})();
