"""Recordings in real headless Chromium against a live controller: search a transcript, play and seek a
recording (HTTP Range), agents see only their own calls, hostile transcript text stays text, listens are
audited.

The recordings are real 8 kHz WAVs of espeak-ng speech (the recordings tests' ``tts`` fixture), catalogued
through the controller's own catalogue and given a transcript the way a transcription worker stores one.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from recordings.audio import inspect_wav
from recordings.model import RecordingStart, Speaker, TranscriptSegment
from switchboard.app import Controller
from switchboard.ids import new_id
from switchboard.users.model import Role
from tests.recordings.conftest import speech_dir, tts  # noqa: F401 (espeak-ng + sox fixtures)
from tests.web.pages.pages_harness import ControllerServer

pytestmark = pytest.mark.slow

SEED_SOURCE = "tests-seed:0"  # not the controller's AMI source, so its reconciliation leaves these alone
SCRIPT_TEXT = "<script>window.pwned=1</script>"
SCRIPT_NAME = "<img src=x onerror=window.pwned=2>"
VIEWER_ZONE = ZoneInfo("Asia/Seoul")  # the page fixture's browser time zone


@dataclass(frozen=True)
class Seeded:
    """A catalogued, transcribed recording and what its WAV holds."""

    id: str
    call_id: str
    agent_id: str
    started_at: datetime
    duration_s: float
    size_bytes: int


@dataclass(frozen=True)
class Recordings:
    mine: Seeded  # agent a1's call: "invoice" and "refund"
    other: Seeded  # agent a2's call: also says "invoice"
    hostile: Seeded  # agent a1's call whose transcript and caller name are markup


async def seed_recording(
    ctl: Controller,
    wav: Path,
    *,
    agent_id: str,
    segments: Sequence[TranscriptSegment],
    caller_name: str = "Ada Caller",
) -> Seeded:
    """Catalogue a finished call recording with ``wav`` as its file and store its transcript."""
    recordings = ctl.recordings
    catalogue, store = recordings.catalogue, recordings.service.store
    info = inspect_wav(wav)
    uniqueid = new_id()
    call_id = f"rc-{uniqueid[-10:]}"
    asterisk_path = f"{recordings.settings.asterisk_dir}/sb-{uniqueid}.wav"
    ended = ctl.clock.now()
    started = ended - timedelta(seconds=info.duration_s)
    rec_id = await catalogue.recording_started(
        RecordingStart(
            source=SEED_SOURCE,
            uniqueid=uniqueid,
            linkedid=uniqueid,
            channel=f"PJSIP/carrier-{uniqueid}",
            call_id=call_id,
            agent_id=agent_id,
            queue="billing",
            caller_number="+15551230002",
            caller_name=caller_name,
            asterisk_path=asterisk_path,
            started_at=started,
        )
    )
    local = catalogue.mapper.to_local(asterisk_path)
    local.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(wav, local)
    await catalogue.recording_finished(SEED_SOURCE, uniqueid, ended_at=ended)
    # Take the job before the controller's own worker (engine "none") would file it as merely stored:
    # a claim "from the future" finds it due at once; the lease keeps the worker off it.
    owner = f"tests-{uniqueid}"
    jobs = await store.claim(owner, ended + timedelta(minutes=5), 10, 600)
    assert [j.recording_id for j in jobs] == [rec_id]
    assert await store.complete(
        rec_id,
        owner,
        segments,
        engine="test",
        size_bytes=info.file_size,
        duration_s=info.duration_s,
        now=ctl.clock.now(),
    )
    return Seeded(rec_id, call_id, agent_id, started, info.duration_s, info.file_size)


@pytest.fixture(scope="module")
def recs(server: ControllerServer, tts: Callable[..., Path]) -> Recordings:  # noqa: F811
    ctl = server.ctl
    said = "I was charged twice on my invoice. Can you refund the second payment please?"
    mine = server.run(
        seed_recording(
            ctl,
            tts(said),
            agent_id="a1",
            segments=[
                TranscriptSegment(0.2, 2.6, Speaker.MIXED, "I was charged twice on my invoice.", 0.8),
                TranscriptSegment(2.8, 5.0, Speaker.MIXED, "Can you refund the second payment please?", 0.8),
            ],
        )
    )
    other = server.run(
        seed_recording(
            ctl,
            tts("The invoice number on my letter is wrong."),
            agent_id="a2",
            segments=[TranscriptSegment(0.2, 2.5, Speaker.MIXED, "The invoice number is wrong.", 0.8)],
        )
    )
    hostile = server.run(
        seed_recording(
            ctl,
            tts("Please refund me now."),
            agent_id="a1",
            caller_name=SCRIPT_NAME,
            segments=[TranscriptSegment(0.1, 1.5, Speaker.CALLER, f"{SCRIPT_TEXT} refund me now", 0.6)],
        )
    )
    return Recordings(mine, other, hostile)


def sign_in_as(page: Any, server: ControllerServer, role: Role) -> None:
    page.context.add_cookies([{"name": "sb_session", "value": server.users[role].session, "url": server.url}])


def search(page: Any, words: str) -> None:
    page.goto("/recordings-search")
    page.fill("#q", words)
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**/recordings-search?q=*")


def listed(page: Any) -> set[str]:
    return set(page.eval_on_selector_all("tr[data-recording]", "rows => rows.map(r => r.dataset.recording)"))


def test_supervisor_finds_a_call_by_a_transcript_word_highlighted(
    page: Any, server: ControllerServer, recs: Recordings
) -> None:
    sign_in_as(page, server, Role.SUPERVISOR)
    search(page, "invoice")
    assert listed(page) == {recs.mine.id, recs.other.id}  # supervisors see every agent's calls
    assert page.text_content('[data-testid="total"]') == "2 recordings"
    match = page.locator(f'tr[data-recording="{recs.mine.id}"] + tr.match [data-testid="match"]')
    assert "I was charged twice on my invoice." in (match.text_content() or "")
    mark = match.locator("mark")
    mark.wait_for()
    assert mark.count() == 1 and mark.text_content() == "invoice"
    # The call's start is shown in the viewer's zone (Seoul), not in UTC.
    started = page.locator(f'tr[data-recording="{recs.mine.id}"] time')
    page.wait_for_function("el => el.hasAttribute('data-local')", arg=started.element_handle())
    local = recs.mine.started_at.astimezone(VIEWER_ZONE)
    assert local.strftime("%-I:%M") in (started.text_content() or "")
    assert page.locator(f'tr[data-recording="{recs.mine.id}"] a[href="/calls/{recs.mine.call_id}"]').count()


def test_supervisor_plays_a_recording_that_loads_and_seeks_with_range_requests(
    page: Any, server: ControllerServer, recs: Recordings
) -> None:
    audio_url = f"/recordings/{recs.mine.id}/audio"
    answers: list[tuple[int, str | None, str | None]] = []  # status, Range asked, Content-Range answered

    def on_response(r: Any) -> None:
        if r.url.endswith(audio_url):
            answers.append((r.status, r.request.headers.get("range"), r.headers.get("content-range")))

    page.on("response", on_response)
    sign_in_as(page, server, Role.SUPERVISOR)
    search(page, "refund")
    page.click(f'tr[data-recording="{recs.mine.id}"] button[data-testid="play"]')
    page.wait_for_function(
        "id => { const p = document.getElementById('player');"
        " return p.dataset.recording === id && p.readyState >= 1; }",
        arg=recs.mine.id,
    )
    duration, seekable_end = page.evaluate(
        "() => { const p = document.getElementById('player');"
        " return [p.duration, p.seekable.length ? p.seekable.end(0) : 0]; }"
    )
    assert abs(duration - recs.mine.duration_s) <= 0.2
    assert abs(seekable_end - duration) <= 0.05  # the browser may seek anywhere (the server takes Range)
    assert page.text_content("#player-status") == f"Ready: {round(recs.mine.duration_s)} s"

    middle = recs.mine.duration_s / 2
    after_seek = page.evaluate(
        """async (t) => {
            const p = document.getElementById('player');
            p.pause();
            await new Promise(done => {
                p.addEventListener('seeked', done, {once: true});
                p.currentTime = t;
            });
            return p.currentTime;
        }""",
        middle,
    )
    assert abs(after_seek - middle) <= 0.05
    partial = [a for a in answers if a[0] == 206]
    assert partial, f"no 206 for the audio; got {answers}"
    assert all(rng and rng.startswith("bytes=") for _, rng, _ in partial)
    assert all(cr and cr.endswith(f"/{recs.mine.size_bytes}") for _, _, cr in partial)

    # The listen is in the recording's audit log: one entry however many range requests the listen took.
    again = page.request.get(audio_url, headers={"Range": "bytes=1000-1999"})
    assert again.status == 206 and len(again.body()) == 1000
    boss = server.users[Role.SUPERVISOR]
    with httpx.Client(base_url=server.url) as client:
        audit = client.get(f"/recordings/{recs.mine.id}/audit", headers=boss.bearer)
    assert audit.status_code == 200
    listens = [e for e in audit.json() if e["action"] == "listen" and e["role"] == "supervisor"]
    assert [(e["user_id"], e["client_ip"]) for e in listens] == [(boss.user.id, "127.0.0.1")]


def test_agent_sees_and_plays_only_recordings_of_their_own_calls(
    page: Any, server: ControllerServer, recs: Recordings
) -> None:
    sign_in_as(page, server, Role.AGENT)  # the agent user is linked to ACD agent a1
    search(page, "invoice")
    assert listed(page) == {recs.mine.id}
    assert recs.other.id not in page.content()
    page.goto("/recordings-search")
    assert listed(page) == {recs.mine.id, recs.hostile.id}
    # Another agent's recording by its URL: not found, as if it did not exist (the browser's own cookies).
    for url in (f"/recordings/{recs.other.id}/audio", f"/recordings/{recs.other.id}"):
        assert page.request.get(url).status == 404
    own = page.request.get(f"/recordings/{recs.mine.id}/audio", headers={"Range": "bytes=0-99"})
    assert own.status == 206 and len(own.body()) == 100
    audit = server.run(server.ctl.recordings.service.queries.audit_log(recs.mine.id))
    agent_user = server.users[Role.AGENT].user.id
    assert [(e.user_id, e.action.value) for e in audit if e.role == "agent"] == [(agent_user, "listen")]
    assert server.run(server.ctl.recordings.service.queries.audit_log(recs.other.id)) == []
    # In the page's player, the other agent's recording does not play.
    page.evaluate(
        "url => { const p = document.getElementById('player'); p.src = url; p.load(); }",
        f"/recordings/{recs.other.id}/audio",
    )
    page.wait_for_function("() => document.getElementById('player').error !== null")
    assert page.text_content("#player-status") == "This recording cannot be played."


def test_markup_in_a_transcript_and_caller_name_is_shown_as_text(
    page: Any, server: ControllerServer, recs: Recordings
) -> None:
    sign_in_as(page, server, Role.SUPERVISOR)
    search(page, "refund")
    assert listed(page) == {recs.mine.id, recs.hostile.id}
    row = page.locator(f'tr[data-recording="{recs.hostile.id}"]')
    assert SCRIPT_NAME in (row.text_content() or "")
    match = page.locator(f'tr[data-recording="{recs.hostile.id}"] + tr.match [data-testid="match"]')
    match.locator("mark").wait_for()
    assert f"{SCRIPT_TEXT} refund me now" in (match.text_content() or "")
    assert match.locator("mark").text_content() == "refund"
    assert match.locator("script, img").count() == 0 and row.locator("script, img").count() == 0
    assert page.evaluate("window.pwned") is None
    # Markup typed into the search box comes back as the box's text, not as part of the page.
    hostile_query = 'refund "><img src=x onerror=window.pwned=3>'
    search(page, hostile_query)
    assert page.input_value("#q") == hostile_query
    assert page.locator("img[src=x]").count() == 0
    assert page.evaluate("window.pwned") is None
