"""The reports page, JSON API and CSV over real HTTP on a live controller; the wallboard's alerts."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from dataclasses import replace
from typing import Any

import httpx
import pytest

from acd.ports import ChannelHungUp
from switchboard.ids import new_id
from switchboard.users.model import Role
from switchboard.web.pages.live import CACHE_SECONDS
from tests.acd.conftest import request
from tests.web.pages.pages_harness import ControllerServer
from tests.web.reports.seed import FORMULA_AGENT, SCRIPT_AGENT, Seeded


def client(server: ControllerServer, role: Role = Role.SUPERVISOR) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=server.users[role].bearer, timeout=15)


def get_json(server: ControllerServer, **params: str) -> dict[str, Any]:
    with client(server) as c:
        answer = c.get("/api/reports", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_figures_per_day_match_the_records(server: ControllerServer, seeded: Seeded) -> None:
    data = get_json(server, **seeded.query(group="day"))
    assert (data["group"], data["timezone"], data["from"]) == ("day", "UTC", seeded.first.isoformat())
    day1, day2 = data["rows"]
    assert (day1["key"], day2["key"]) == (seeded.first.isoformat(), seeded.last.isoformat())
    assert (day1["offered"], day1["answered"], day1["abandoned"]) == (3, 2, 1)
    assert day1["service_level"] == pytest.approx(1 / 3, abs=1e-4)
    assert day1["average_speed_of_answer_seconds"] == 22.5
    assert day1["average_handle_time_seconds"] == 70.0  # 60 s talk + billing's 10 s wrap-up
    assert (day1["deflection_started"], day1["deflection_resolved"]) == (3, 2)
    assert (day1["csat_satisfied"], day1["csat_responses"], day1["csat"]) == (1, 2, 0.5)
    assert (day2["offered"], day2["answered"], day2["service_level"]) == (3, 3, 1.0)
    assert day2["deflection_rate"] == 0.0 and day2["csat"] == 1.0
    total = data["total"]
    assert (total["offered"], total["answered"], total["abandoned"]) == (6, 5, 1)
    assert total["service_level"] == pytest.approx(4 / 6, abs=1e-4)
    assert (total["deflection_rate"], total["csat"]) == (0.5, pytest.approx(2 / 3, abs=1e-4))


def test_figures_per_queue_carry_each_queues_goal(server: ControllerServer, seeded: Seeded) -> None:
    rows = {r["key"]: r for r in get_json(server, **seeded.query(group="queue"))["rows"]}
    assert list(rows) == ["billing", "sales", "support"]
    assert (rows["billing"]["offered"], rows["billing"]["service_level"]) == (4, 0.75)
    assert rows["billing"]["service_level_target"] == 0.8
    assert (rows["sales"]["abandoned"], rows["sales"]["service_level"]) == (1, 0.5)
    assert rows["support"]["offered"] == 0 and rows["support"]["service_level"] is None
    assert rows["billing"]["deflection_rate"] is None  # self-service belongs to no queue


def test_queue_filter_and_sorting(server: ControllerServer, seeded: Seeded) -> None:
    only_billing = get_json(server, **seeded.query(group="agent", queue="billing", sort="-offered"))
    keys = [r["key"] for r in only_billing["rows"]]
    assert set(keys) == {"a1", "a2", SCRIPT_AGENT, FORMULA_AGENT}  # no sales agent, no unanswered sales call
    assert only_billing["total"]["offered"] == 4 and only_billing["total"]["deflection_started"] is None
    by_sl = get_json(server, **seeded.query(group="queue", sort="-service_level"))
    assert [r["key"] for r in by_sl["rows"]] == ["billing", "sales", "support"]  # no value: last
    names = {r["key"]: r["name"] for r in get_json(server, **seeded.query(group="agent"))["rows"]}
    assert names["a1"] == "Ann" and names["(none)"] == ""


def test_csv_has_a_header_a_line_per_group_a_total_and_defused_cells(
    server: ControllerServer, seeded: Seeded
) -> None:
    with client(server) as c:
        answer = c.get("/api/reports.csv", params=seeded.query(group="agent"))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(answer.text)))
    header, *body = lines
    assert header[:4] == ["agent", "name", "offered", "answered"]
    by_key = {line[0]: dict(zip(header, line, strict=True)) for line in body}
    assert by_key["total"]["offered"] == "6"
    assert by_key["a1"]["name"] == "Ann" and by_key["a1"]["service_level_percent"] == "100.0"
    # A formula-looking agent id stays text in a spreadsheet; nothing in the file starts a formula.
    assert "'" + FORMULA_AGENT in by_key
    assert not any(cell.startswith(("=", "+", "-", "@")) for line in lines for cell in line)
    assert by_key[SCRIPT_AGENT]["offered"] == "1"


BAD_PARAMS = [
    {"group": "bogus"},
    {"group": "day; DROP TABLE acd_queue_calls"},
    {"sort": "offered; DROP TABLE acd_queue_calls"},
    {"sort": "__class__"},
    {"sort": "call_id"},
    {"from": "2026-13-01"},
    {"from": "2026-02-10", "to": "2026-02-01"},
    {"from": "2025-01-01", "to": "2026-06-01"},
    {"queue": "billing' OR '1'='1"},
    {"queue": "nosuchqueue"},
    {"tz": "../../etc/passwd"},
    {"tz": "Mars/Olympus_Mons"},
    {"to": "0001-01-01"},  # found by the schema fuzzer: the default "from" fell off the calendar
    {"from": "9999-12-31"},
]


@pytest.mark.parametrize("bad", BAD_PARAMS, ids=[str(b) for b in BAD_PARAMS])
def test_bad_parameters_are_refused_with_422_everywhere(
    server: ControllerServer, seeded: Seeded, bad: dict[str, str]
) -> None:
    with client(server) as c:
        for path in ("/api/reports", "/api/reports.csv"):
            answer = c.get(path, params=bad)
            assert answer.status_code == 422, (path, answer.text)
            assert answer.json()["detail"]
        page = c.get("/reports", params=bad, headers={"accept": "text/html"})
    assert page.status_code == 422
    assert 'class="error" role="alert"' in page.text
    assert "<svg" not in page.text  # no report for a refused request
    # The records are all still there: nothing reached SQL as text.
    assert get_json(server, **seeded.query(group="queue"))["total"]["offered"] == 6


def test_the_page_shows_a_table_and_a_titled_svg_chart_per_measure(
    server: ControllerServer, seeded: Seeded
) -> None:
    with client(server) as c:
        page = c.get("/reports", params=seeded.query(group="day"))
    assert page.status_code == 200
    html = page.text
    assert 'data-testid="report-table"' in html
    assert html.count('role="img"') == 8  # offered, answered, abandoned, SL, ASA, AHT, deflection, CSAT
    assert '<title id="service-level-title">Service level per day</title>' in html
    assert "target 80%" not in html  # two queues' calls per day: no single goal line
    assert f'href="/api/reports.csv?from={seeded.first.isoformat()}' in html
    queue_page = c_get(server, "/reports", seeded.query(group="queue", queue="billing"))
    assert "target 80%" in queue_page  # one queue: its goal is drawn
    assert "Self-service deflection" in queue_page and "No data for" in queue_page


def c_get(server: ControllerServer, path: str, params: dict[str, str]) -> str:
    with client(server) as c:
        answer = c.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.text


def test_hostile_agent_ids_render_as_text(server: ControllerServer, seeded: Seeded) -> None:
    html = c_get(server, "/reports", seeded.query(group="agent"))
    assert SCRIPT_AGENT not in html
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html


def test_reports_are_for_supervisors_and_admins_only(server: ControllerServer, seeded: Seeded) -> None:
    for path in ("/reports", "/api/reports", "/api/reports.csv", "/ui/reports/reports.css"):
        with client(server, Role.AGENT) as c:
            assert c.get(path).status_code == 403, path
        with httpx.Client(base_url=server.url) as anonymous:
            assert anonymous.get(path, headers={"accept": "application/json"}).status_code == 401, path
        for role in (Role.SUPERVISOR, Role.ADMIN):
            with client(server, role) as c:
                assert c.get(path).status_code == 200, (path, role)
    with httpx.Client(base_url=server.url, cookies=server.users[Role.SUPERVISOR].cookies) as browser:
        assert 'href="/reports"' in browser.get("/wallboard").text  # the navigation offers it
    with httpx.Client(base_url=server.url, cookies=server.users[Role.AGENT].cookies) as browser:
        assert 'href="/reports"' not in browser.get("/desk").text


def test_the_wallboard_lists_a_long_wait_alert_and_drops_it_when_the_caller_leaves(
    server: ControllerServer,
) -> None:
    monitor = server.ctl.alerts
    saved = monitor.rules
    monitor.rules = replace(saved, wait_threshold_seconds=1)
    caller = request(f"al-{new_id()[-10:]}", queue="support", skill="support", region="eu")
    try:
        server.run(server.ctl.acd.enqueue(caller))
        time.sleep(1.3)
        server.run(monitor.check_once())
        time.sleep(CACHE_SECONDS + 0.1)
        with client(server) as c:
            board = c.get("/api/wallboard").json()
        alerts = {a["id"]: a for a in board["alerts"]}
        assert "long_wait:support" in alerts
        assert alerts["long_wait:support"]["message"].startswith(
            "Queue support: 1 caller has waited longer than 1 s"
        )
        server.run(
            server.ctl.acd.handle(ChannelHungUp(caller.channel, caller.uniqueid, 16, "Normal Clearing"))
        )
        server.run(monitor.check_once())
        time.sleep(CACHE_SECONDS + 0.1)  # the wallboard shares one snapshot this long
        with client(server) as c:
            board = c.get("/api/wallboard").json()
        assert "long_wait:support" not in {a["id"] for a in board["alerts"]}
    finally:
        monitor.rules = saved
        server.run(asyncio.sleep(0))


@pytest.mark.slow
def test_generated_report_requests_never_get_a_server_error(server: ControllerServer, seeded: Seeded) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    headers = server.users[Role.SUPERVISOR].bearer
    raw = httpx.get(f"{server.url}/openapi.json", headers=headers).json()
    schema = schemathesis.openapi.from_dict(raw)
    schema.validate()
    operations = [r.ok() for r in schema.get_all_operations()]
    mine = [op for op in operations if op.path.startswith("/api/reports")]
    assert {op.path for op in mine} == {"/api/reports", "/api/reports.csv"}
    for operation in mine:

        @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def exercise(case: Any) -> None:
            case.call_and_validate(base_url=server.url, headers=headers, checks=[not_a_server_error])

        exercise()
