// Keeps an exam sitting's progress current: every N seconds (data-live-refresh) the page is
// fetched again and the #live region replaced, so focus and scroll stay where they were.
// Without JavaScript the page still has its "refresh now" link.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) return;
  var seconds = parseInt(live.getAttribute("data-live-refresh") || "0", 10);
  if (!seconds) return;

  function refresh() {
    if (document.hidden) return schedule();
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (!fresh) return window.location.reload();
        live.replaceWith(fresh);
        live = fresh;
        if (live.getAttribute("data-live-refresh")) schedule(); // closed: stop refreshing
      })
      .catch(schedule);
  }

  function schedule() {
    window.setTimeout(refresh, seconds * 1000);
  }

  schedule();
})();
