"""The admin pages in real headless Chromium against a live controller (emulated Asterisk, Redis, SQLite)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.web.pages.pages_harness import ControllerServer

GOOD = """\
start: hello
prompts: {hi: "Version one."}
nodes:
  hello: {kind: play, prompt: hi, next: out}
  out: {kind: queue, queue: support}
"""
BROKEN = GOOD.replace("next: out", "next: nowhere")  # line 4

pytestmark = pytest.mark.slow


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    st = path.stat()  # make each rewrite visible to the stat-based change check
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000 + len(text)))


def test_admin_adds_an_agent_with_a_skill_and_sees_it_in_the_list(
    admin_page: Any, server: ControllerServer
) -> None:
    page = admin_page
    page.goto("/admin/agents")
    page.click("text=Add an agent")
    page.fill("#agent-id-input", "a7")
    page.fill("#agent-name", "Gil <b>Seven</b>")
    page.fill("#agent-endpoint", "PJSIP/107")
    page.select_option("#skill-sales", "4")
    page.check('input[name="region"][value="eu"]')
    page.fill("#agent-timezone", "Asia/Seoul")
    page.select_option("#substitute-1", "a1")
    page.click("button:has-text('Add agent')")

    page.wait_for_url("**/admin/agents?done=agent-added")
    assert page.text_content(".flash") == "Agent added."
    row = page.locator('tr[data-agent="a7"]')
    assert row.locator('[data-field="skills"]').text_content() == "sales 4"
    assert row.locator('[data-field="name"]').text_content() == "Gil <b>Seven</b>"  # as text, not markup
    assert row.locator('[data-field="substitutes"]').text_content() == "a1"
    agent = server.run(server.ctl.acd.config()).agents["a7"]  # published to the routing service
    assert (agent.proficiency("sales"), agent.endpoint, agent.timezone) == (4, "PJSIP/107", "Asia/Seoul")


def test_admin_reloads_flows_and_sees_a_broken_files_problem_while_the_good_flow_runs(
    admin_page: Any, server: ControllerServer
) -> None:
    page = admin_page
    flows_dir = Path(server.ctl.settings.ivr.flows_dir)
    flows_dir.mkdir(parents=True, exist_ok=True)
    write(flows_dir / "greeting.yaml", GOOD)
    page.goto("/admin/flows")
    page.click("[data-testid=reload]")
    page.wait_for_selector('tr[data-flow="greeting"][data-status="loaded"]')
    # the load time is shown in the viewer's zone (the browser runs in Asia/Seoul)
    page.wait_for_selector('tr[data-flow="greeting"] time[data-local="Asia/Seoul"]')
    write(flows_dir / "greeting.yaml", BROKEN)

    page.click("[data-testid=reload]")

    page.wait_for_selector('tr[data-flow="greeting"][data-status="failed"]')
    report = page.text_content("[data-testid=report]") or ""
    assert "the previous version keeps running: greeting" in report
    problems = page.text_content('tr[data-flow="greeting"] [data-field="problems"]') or ""
    assert "greeting.yaml:4" in problems and "unknown node 'nowhere'" in problems
    status = page.text_content('tr[data-flow="greeting"] [data-field="status"]') or ""
    assert "previous version still running" in status
    flow = server.ctl.flows.get("greeting")
    assert flow is not None and flow.spec.prompts["hi"].say == "Version one."


def test_admin_plans_an_absence_in_their_own_time_zone(admin_page: Any, server: ControllerServer) -> None:
    page = admin_page
    page.goto("/admin/agents")  # any page: the shared script tells the server the browser's zone
    page.goto("/admin/absences")
    assert page.text_content("[data-testid=zone]") == "Times are in your time zone, Asia/Seoul."
    page.select_option("#absence-agent", "a2")
    page.select_option("#absence-kind", "training")
    page.fill("#absence-from", "2030-02-01T09:00")
    page.fill("#absence-until", "2030-02-01T18:00")
    page.fill("#absence-note", "course")
    page.click("button:has-text('Plan absence')")

    page.wait_for_url("**/admin/absences?done=absence-added")
    absence = next(a for a in server.run(server.ctl.acd.config()).absences if a.note == "course")
    assert absence.starts_at.isoformat() == "2030-02-01T00:00:00+00:00"  # 09:00 in Seoul
    shown = page.locator(f'tr[data-absence="{absence.id}"] time[data-local="Asia/Seoul"]').first
    assert "9:00" in (shown.text_content() or "")
