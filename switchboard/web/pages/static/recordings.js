// Recordings page: play a recording in the page's <audio> (the server answers Range requests, so it seeks),
// mark the searched words in the matching transcript lines, and supervisors' legal hold through the
// recordings API.
(function () {
  "use strict";

  // A word as the server's search sees one (recordings/queries.py: letters and digits).
  var WORD = /[\p{L}\p{N}]+/gu;

  function searchTerms(query) {
    return (query.match(WORD) || []).slice(0, 12).map(function (w) { return w.slice(0, 64).toLowerCase(); });
  }

  // Mark each word the search matched (a term is a word prefix, as in the full-text search). Only text
  // nodes and <mark> elements are made, so markup in a transcript stays text.
  function highlight(el, terms) {
    var text = el.textContent;
    var parts = document.createDocumentFragment();
    var last = 0;
    var found;
    WORD.lastIndex = 0;
    while ((found = WORD.exec(text)) !== null) {
      var word = found[0].toLowerCase();
      if (!terms.some(function (t) { return word.indexOf(t) === 0; })) { continue; }
      parts.appendChild(document.createTextNode(text.slice(last, found.index)));
      var mark = document.createElement("mark");
      mark.textContent = found[0];
      parts.appendChild(mark);
      last = found.index + found[0].length;
    }
    parts.appendChild(document.createTextNode(text.slice(last)));
    el.replaceChildren(parts);
  }

  function start() {
    var results = document.querySelector("table[data-query]");
    var terms = results ? searchTerms(results.getAttribute("data-query")) : [];
    if (terms.length) {
      document.querySelectorAll("tr.match .said").forEach(function (el) { highlight(el, terms); });
    }
    var player = document.getElementById("player");
    var status = document.getElementById("player-status");
    document.querySelectorAll("button.play").forEach(function (b) {
      b.addEventListener("click", function () {
        player.src = "/recordings/" + encodeURIComponent(b.getAttribute("data-id")) + "/audio";
        player.setAttribute("data-recording", b.getAttribute("data-id"));
        status.textContent = "Loading…";
        player.play().catch(function () { /* autoplay may be refused; the controls still work */ });
      });
    });
    player.addEventListener("loadedmetadata", function () { status.textContent = "Ready: " + Math.round(player.duration) + " s"; });
    player.addEventListener("error", function () { status.textContent = "This recording cannot be played."; });
    document.querySelectorAll("button.hold").forEach(function (b) {
      b.addEventListener("click", function () {
        var hold = b.getAttribute("data-hold") === "true";
        window.switchboard.send("/recordings/" + encodeURIComponent(b.getAttribute("data-id")) + "/legal-hold", {
          method: "PUT", body: JSON.stringify({ hold: hold }), headers: { "Content-Type": "application/json" }
        }).then(function (r) {
          if (r.ok) {
            b.setAttribute("data-hold", hold ? "false" : "true");
            b.textContent = hold ? "Lift hold" : "Hold";
          } else { status.textContent = "Legal hold refused (" + r.status + ")"; }
        });
      });
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
