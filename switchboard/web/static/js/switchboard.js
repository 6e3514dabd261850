// Switchboard's small shared script: viewer-local times and the CSRF token for scripted requests.
// No build step, no inline scripts (the Content-Security-Policy forbids them).
(function () {
  "use strict";

  var zone = "UTC";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { /* old browser */ }

  // Pages that group by day on the server (reports) read this cookie; it holds only a zone name.
  if (document.cookie.indexOf("sb_tz=" + encodeURIComponent(zone)) === -1) {
    document.cookie = "sb_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
  }

  var formats = {
    datetime: { dateStyle: "medium", timeStyle: "short" },
    date: { dateStyle: "medium" },
    time: { timeStyle: "medium" }
  };

  function relative(date) {
    var seconds = Math.round((date.getTime() - Date.now()) / 1000);
    var rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
    var units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(seconds) >= units[i][1] || units[i][0] === "second") {
        return rtf.format(Math.round(seconds / units[i][1]), units[i][0]);
      }
    }
    return "";
  }

  // Rewrite <time datetime="...Z" data-style="..."> into the viewer's zone; the UTC text stays as a title.
  function formatTimes(root) {
    var nodes = (root || document).querySelectorAll("time[datetime]:not([data-local])");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var date = new Date(node.getAttribute("datetime"));
      if (isNaN(date.getTime())) { continue; }
      var style = node.getAttribute("data-style") || "datetime";
      var text = style === "relative" ? relative(date)
        : new Intl.DateTimeFormat(undefined, formats[style] || formats.datetime).format(date);
      node.title = node.textContent + " (" + zone + ")";
      node.textContent = text;
      node.setAttribute("data-local", zone);
    }
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // fetch() that sends the session's CSRF token: use for every POST/PUT/PATCH/DELETE from a page.
  function send(url, options) {
    options = options || {};
    var headers = new Headers(options.headers || {});
    headers.set("X-CSRF-Token", csrfToken());
    if (!headers.has("Accept")) { headers.set("Accept", "application/json"); }
    options.headers = headers;
    options.credentials = "same-origin";
    return fetch(url, options);
  }

  // htmx (if a page adds it) sends the token too.
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  window.switchboard = { formatTimes: formatTimes, csrfToken: csrfToken, send: send, timeZone: zone };

  function start() {
    formatTimes(document);
    // Times added later (live updates, htmx swaps) are converted as they arrive.
    new MutationObserver(function (records) {
      for (var i = 0; i < records.length; i++) {
        for (var j = 0; j < records[i].addedNodes.length; j++) {
          var added = records[i].addedNodes[j];
          if (added.nodeType === 1) { formatTimes(added.parentNode || added); }
        }
      }
    }).observe(document.body, { childList: true, subtree: true });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
