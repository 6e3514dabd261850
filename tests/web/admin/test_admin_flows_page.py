"""The admin flows page: each file's status and problems, a check per file, a draft check, reload now."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from markupsafe import escape

from tests.web.admin.conftest import AdminKit

GOOD = """\
start: hello
prompts: {hi: "Version one."}
nodes:
  hello: {kind: play, prompt: hi, next: out}
  out: {kind: queue, queue: support}
"""
BROKEN = GOOD.replace("next: out", "next: nowhere")  # line 4
PROBLEM = "<code>main.yaml:4</code> node &#39;hello&#39; next: unknown node &#39;nowhere&#39;"

# The page does not touch the database: SQLite is enough.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    st = path.stat()  # make each rewrite visible to the stat-based change check
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000 + len(text)))


def row(page: str, name: str) -> str:
    start = page.index(f'<tr data-flow="{name}"')
    return page[start : page.index("</tr>", start)]


async def test_reload_shows_a_broken_file_while_its_good_version_keeps_running(admin_kit: AdminKit) -> None:
    write(admin_kit.flows_dir / "main.yaml", GOOD)
    first = await admin_kit.post("/admin/flows/reload", {})
    assert first.status_code == 200 and "Now running: main." in first.text
    assert 'data-status="loaded"' in row(first.text, "main")
    write(admin_kit.flows_dir / "main.yaml", BROKEN)

    page = await admin_kit.post("/admin/flows/reload", {})

    assert "Problems, the previous version keeps running: main." in page.text
    main = row(page.text, "main")
    assert 'data-status="failed"' in main and "previous version still running" in main
    assert PROBLEM in main
    flow = admin_kit.flows.get("main")
    assert flow is not None and flow.spec.prompts["hi"].say == "Version one."
    listed = await admin_kit.get("/admin/flows")  # the same state on a plain visit
    assert PROBLEM in row(listed.text, "main")


async def test_check_button_checks_the_file_on_disk_without_loading_it(admin_kit: AdminKit) -> None:
    write(admin_kit.flows_dir / "main.yaml", GOOD)
    admin_kit.flows.reload()
    clean = await admin_kit.post("/admin/flows/main/validate", {})
    assert "Check of main" in clean.text and "No problems: this flow can run." in clean.text
    write(admin_kit.flows_dir / "main.yaml", BROKEN)

    checked = await admin_kit.post("/admin/flows/main/validate", {})

    section = checked.text[checked.text.index('data-testid="checked"') :]
    assert "2 problem(s)" in section and PROBLEM in section
    assert 'data-status="loaded"' in row(checked.text, "main")  # not reloaded by a check
    assert (await admin_kit.post("/admin/flows/nothing/validate", {})).status_code == 404


async def test_a_draft_is_checked_with_line_numbers_and_hostile_text_stays_text(admin_kit: AdminKit) -> None:
    good = await admin_kit.post("/admin/flows/validate", {"name": "billing", "text": GOOD})
    assert "Check of the draft of billing" in good.text and "No problems" in good.text
    assert list(admin_kit.flows_dir.iterdir()) == [] and admin_kit.flows.names == ()  # nothing saved

    hostile = GOOD.replace("start: hello", 'start: "<script>alert(1)</script>"')
    bad = await admin_kit.post("/admin/flows/validate", {"name": "billing", "text": hostile})
    assert "<script>alert(1)</script>" not in bad.text
    assert escape("<script>alert(1)</script>") in bad.text
    assert "<code>billing.yaml:1</code>" in bad.text
    assert escape('start: "<script>alert(1)</script>"') in bad.text  # the draft stays in the box


async def test_draft_with_a_bad_name_or_too_big_comes_back_as_typed(admin_kit: AdminKit) -> None:
    named = await admin_kit.post("/admin/flows/validate", {"name": "../etc/passwd", "text": GOOD})
    assert named.status_code == 400 and "Flow name:" in named.text
    assert 'value="../etc/passwd"' in named.text and "Version one." in named.text
    huge = "#" * (admin_kit.flows.max_bytes + 10)
    too_big = await admin_kit.post("/admin/flows/validate", {"name": "big", "text": huge})
    assert too_big.status_code == 413 and "larger than" in too_big.text


async def test_flows_page_is_for_admins_and_reload_needs_the_csrf_token(admin_kit: AdminKit) -> None:
    write(admin_kit.flows_dir / "main.yaml", GOOD)
    assert (await admin_kit.post("/admin/flows/reload", {}, who="supervisor1")).status_code == 403
    assert (await admin_kit.post("/admin/flows/reload", {}, csrf=False)).status_code == 403
    assert admin_kit.flows.names == ()  # neither reloaded anything
    assert (await admin_kit.get("/admin/flows", who="agent1")).status_code == 403
