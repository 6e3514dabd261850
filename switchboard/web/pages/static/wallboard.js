// Wallboard: follows /api/wallboard over Server-Sent Events and redraws with textContent only.
(function () {
  "use strict";

  function pct(v) { return v === null || v === undefined ? "–" : Math.round(v * 100) + "%"; }
  function secs(v) { return v === null || v === undefined ? "–" : Math.round(v) + " s"; }
  function duration(v) {
    if (v === null || v === undefined) { return "–"; }
    var s = Math.max(0, Math.round(v)), m = Math.floor(s / 60);
    return m > 0 ? m + " min " + (s % 60) + " s" : s + " s";
  }
  function cell(row, text, tag, cls) {
    var c = document.createElement(tag || "td");
    c.textContent = text;
    if (tag === "th") { c.scope = "row"; }
    if (cls) { c.className = cls; }
    row.appendChild(c);
    return c;
  }

  var received = 0;
  function draw(board) {
    var queues = document.getElementById("queue-rows");
    var rows = document.createDocumentFragment();
    board.queues.forEach(function (q) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-queue", q.queue);
      if (q.below_target) { tr.className = "alert"; }
      cell(tr, q.queue, "th");
      cell(tr, String(q.waiting)).setAttribute("data-field", "waiting");
      cell(tr, duration(q.longest_wait_seconds)).setAttribute("data-field", "longest");
      cell(tr, pct(q.service_level) + " / " + pct(q.service_level_target) + " in " + q.service_level_seconds + " s")
        .setAttribute("data-field", "service-level");
      cell(tr, pct(q.abandon_rate)).setAttribute("data-field", "abandon");
      cell(tr, secs(q.average_speed_of_answer_seconds)).setAttribute("data-field", "asa");
      rows.appendChild(tr);
    });
    queues.replaceChildren(rows);
    var agents = document.getElementById("agent-rows");
    var arows = document.createDocumentFragment();
    board.agents.forEach(function (a) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-agent", a.agent_id);
      tr.className = "state-" + a.state;
      cell(tr, a.name ? a.name + " (" + a.agent_id + ")" : a.agent_id, "th");
      cell(tr, a.state.replace("_", " ")).setAttribute("data-field", "state");
      cell(tr, duration(a.seconds_in_state)).setAttribute("data-field", "for");
      cell(tr, a.reason || "").setAttribute("data-field", "reason");
      arows.appendChild(tr);
    });
    agents.replaceChildren(arows);
    document.getElementById("in-ivr").textContent = String(board.in_ivr);
    var ss = board.self_service;
    document.getElementById("deflection").textContent =
      ss.deflection_rate === null ? "–" : pct(ss.deflection_rate) + " (" + ss.resolved + "/" + ss.started + ")";
    var alerts = document.createDocumentFragment();
    (board.alerts || []).forEach(function (a) {
      var li = document.createElement("li"), since = document.createElement("time");
      li.setAttribute("data-alert", a.id);
      li.setAttribute("data-kind", a.kind);
      since.setAttribute("datetime", a.raised_at);
      since.setAttribute("data-style", "time");
      since.textContent = a.raised_at;
      li.append(a.message + " · since ", since);
      alerts.appendChild(li);
    });
    if (!alerts.childNodes.length) { cell(alerts, "None", "li", "none"); }
    document.getElementById("alerts").replaceChildren(alerts);
    var problems = document.getElementById("problems");
    problems.replaceChildren();
    board.problems.forEach(function (p) { var li = document.createElement("li"); li.textContent = p; problems.appendChild(li); });
    received += 1;
    var status = document.getElementById("live-status");
    status.textContent = "Live";
    status.setAttribute("data-updates", String(received));
    status.setAttribute("data-event-id", board.event_id || "");
  }

  function start() {
    var source = new EventSource("/api/wallboard");
    source.addEventListener("board", function (e) { draw(JSON.parse(e.data)); });
    source.addEventListener("problem", function (e) {
      document.getElementById("live-status").textContent = JSON.parse(e.data).message;
    });
    source.onerror = function () { document.getElementById("live-status").textContent = "Reconnecting…"; };
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
