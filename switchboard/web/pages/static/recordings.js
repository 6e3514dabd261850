// Recordings page: play a recording in the page's <audio> (the server answers Range requests, so it seeks),
// and supervisors' legal hold through the recordings API.
(function () {
  "use strict";

  function start() {
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
