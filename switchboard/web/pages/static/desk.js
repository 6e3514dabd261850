// Agent desk: state buttons through the ACD API, and the screen pop from /api/desk (Server-Sent Events).
(function () {
  "use strict";

  function $(id) { return document.getElementById(id); }
  function text(id, value) { var el = $(id); if (el) { el.textContent = value === null || value === undefined ? "" : String(value); } }

  function act(path, body) {
    var options = { method: "POST" };
    if (body) { options.body = JSON.stringify(body); options.headers = { "Content-Type": "application/json" }; }
    return window.switchboard.send("/api/acd/me/" + path, options).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) { text("desk-message", data.detail || ("refused (" + r.status + ")")); return; }
        text("desk-message", "");
        showState(data);
      });
    }).catch(function () { text("desk-message", "The controller did not answer; try again."); });
  }

  function showState(s) {
    text("state", s.state);
    text("reason", s.reason ? "(" + s.reason + ")" : "");
    $("state").setAttribute("data-state", s.state);
  }

  function why(ex) {
    if (!ex) { return ""; }
    var parts = [ex.step + ": " + ex.rule];
    (ex.candidates || []).slice(0, 3).forEach(function (c) {
      parts.push(c.agent + " (proficiency " + c.proficiency + ", idle " + c.idle_s + " s)");
    });
    return parts.join("; ");
  }

  function showPop(offer) {
    var pop = $("pop");
    // The last pop stays on screen (marked inactive) until the next offer: the agent may still need it.
    if (!offer) { pop.setAttribute("data-active", "false"); return; }
    pop.setAttribute("data-active", "true");
    text("pop-name", offer.caller_name || "Unknown caller");
    text("pop-number", offer.caller_number || "");
    text("pop-region", offer.region || "–");
    text("pop-queue", (offer.queue || "–") + ", priority " + offer.priority + (offer.vip ? ", VIP" : ""));
    text("pop-reason", offer.reason || "–");
    text("pop-why", why(offer.explanation));
    var path = $("pop-path");
    path.replaceChildren();
    (offer.ivr_path || []).forEach(function (s) {
      var li = document.createElement("li");
      var said = s.recognised ? " said “" + s.recognised + "”" : "";
      var pressed = s.input ? " pressed " + s.input : "";
      li.textContent = s.node + " (" + s.kind + ")" + pressed + said + (s.result ? " → " + s.result : "");
      path.appendChild(li);
    });
    var prev = $("pop-previous");
    prev.replaceChildren();
    (offer.previous || []).forEach(function (p) {
      var li = document.createElement("li");
      var when = document.createElement("time");
      when.setAttribute("datetime", p.at);
      when.setAttribute("data-style", "datetime");
      when.textContent = p.at;
      li.appendChild(when);
      li.appendChild(document.createTextNode(" " + p.queue + ", " + p.outcome +
        (p.rating === null || p.rating === undefined ? "" : ", survey " + p.rating)));
      prev.appendChild(li);
    });
    $("pop-link").href = "/calls/" + encodeURIComponent(offer.call_id);
    pop.setAttribute("data-call", offer.call_id);
    pop.hidden = false;
  }

  function start() {
    if (!$("state")) { return; }
    $("ready").addEventListener("click", function () { act("ready"); });
    $("pause").addEventListener("click", function () { act("pause", { reason: $("pause-reason").value }); });
    $("wrap-end").addEventListener("click", function () { act("wrap-up/end"); });
    var source = new EventSource("/api/desk");
    source.addEventListener("desk", function (e) {
      var d = JSON.parse(e.data);
      showState(d);
      showPop(d.offer);
    });
    source.onerror = function () { text("desk-message", "Reconnecting…"); };
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
