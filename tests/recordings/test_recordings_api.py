"""The recordings HTTP API over httpx: who sees what, playback with Range, audit of every listen and
download, legal hold, and attacks (path traversal, id guessing, injection through sort/filter, XSS text,
hostile Range headers, missing or truncated files)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recordings.api import make_router
from recordings.model import AuditAction, RecordingState, Speaker, TranscriptSegment
from recordings.service import RecordingsService
from recordings.worker import TranscriptionWorker, WorkerConfig
from switchboard.ids import new_id
from tests.recordings.rec_helpers import (
    as_user,
    finished_recording,
    header_require_role,
    start_of,
    with_transcript,
)

SUPERVISOR = as_user("sup-1", "supervisor")
ADMIN = as_user("adm-1", "admin")
AGENT_A1 = as_user("user-a1", "agent", "a1")
AGENT_A2 = as_user("user-a2", "agent", "a2")
XSS = "<script>alert('owned')</script><img src=x onerror=alert(1)>"
PCM = bytes(range(256)) * 64  # 16384 bytes of recognisable audio data


class OpenedPaths:
    """Every path Python opens or stats while armed (an audit hook: see sys.addaudithook)."""

    armed = False
    seen: list[str] = []

    @classmethod
    def hook(cls, event: str, args: tuple) -> None:
        if (
            cls.armed
            and event in ("open", "os.listdir", "os.scandir")
            and args
            and isinstance(args[0], str | bytes)
        ):
            cls.seen.append(str(args[0]))


sys.addaudithook(OpenedPaths.hook)


@pytest.fixture
async def api(
    sessions, store, catalogue, rec_settings, clock
) -> AsyncIterator[tuple[httpx.AsyncClient, RecordingsService]]:
    service = RecordingsService.build(sessions, rec_settings, clock)
    app = FastAPI()
    app.include_router(make_router(service, require_role=header_require_role))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4711))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, service


@pytest.fixture
async def calls(catalogue, store, clock) -> dict[str, str]:
    a1 = await finished_recording(catalogue, clock, "40.1", agent_id="a1", pcm=PCM, caller_name=XSS)
    await with_transcript(
        store,
        clock,
        a1,
        [
            TranscriptSegment(0.5, 2.0, Speaker.CALLER, XSS, 0.7),
            TranscriptSegment(2.5, 4.0, Speaker.AGENT, "your invoice is ready", 0.9),
        ],
    )
    a2 = await finished_recording(catalogue, clock, "40.2", agent_id="a2", pcm=PCM)
    live = await catalogue.recording_started(start_of(clock, "40.3", agent_id="a1"))
    return {"a1": a1, "a2": a2, "live": live}


async def test_every_route_refuses_anonymous_and_unknown_roles(api, calls) -> None:
    client, _ = api
    rec = calls["a1"]
    for method, url in [
        ("GET", "/recordings"),
        ("GET", f"/recordings/{rec}"),
        ("GET", f"/recordings/{rec}/audio"),
        ("GET", f"/recordings/{rec}/download"),
        ("PUT", f"/recordings/{rec}/legal-hold"),
        ("GET", f"/recordings/{rec}/audit"),
        ("POST", f"/recordings/{rec}/transcribe"),
    ]:
        assert (await client.request(method, url, json={"hold": True})).status_code == 401, url
        response = await client.request(method, url, json={"hold": True}, headers=as_user("x", "guest"))
        assert response.status_code == 403, url


async def test_supervisor_sees_every_recording_and_agents_only_their_own_calls(api, calls) -> None:
    client, _ = api
    everything = (await client.get("/recordings", headers=SUPERVISOR)).json()
    assert everything["total"] == 3
    own = (await client.get("/recordings", headers=AGENT_A1)).json()
    assert {r["id"] for r in own["items"]} == {calls["a1"], calls["live"]}
    peeking = (await client.get("/recordings", params={"agent_id": "a2"}, headers=AGENT_A1)).json()
    assert {r["id"] for r in peeking["items"]} == {calls["a1"], calls["live"]}
    for path in ("", "/audio", "/download"):
        assert (await client.get(f"/recordings/{calls['a2']}{path}", headers=AGENT_A1)).status_code == 404
    assert (await client.get(f"/recordings/{calls['a2']}", headers=AGENT_A2)).status_code == 200
    orphan = as_user("user-x", "agent")  # an agent account not linked to an agent
    assert (await client.get("/recordings", headers=orphan)).json()["total"] == 0


async def test_detail_returns_transcript_with_times_and_speakers_and_markup_verbatim_as_json(
    api, calls
) -> None:
    client, _ = api
    response = await client.get(f"/recordings/{calls['a1']}", headers=AGENT_A1)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["caller_name"] == XSS and body["state"] == "transcribed"
    assert body["transcript"] == [
        {"start_s": 0.5, "end_s": 2.0, "speaker": "caller", "text": XSS, "confidence": 0.7},
        {
            "start_s": 2.5,
            "end_s": 4.0,
            "speaker": "agent",
            "text": "your invoice is ready",
            "confidence": 0.9,
        },
    ]
    assert "local_path" not in body and "asterisk_path" not in body  # server paths never leave the server


async def test_search_through_the_api_returns_matching_segments(api, calls) -> None:
    client, _ = api
    page = (await client.get("/recordings", params={"q": "invoice"}, headers=SUPERVISOR)).json()
    assert [r["id"] for r in page["items"]] == [calls["a1"]]
    assert page["items"][0]["matches"][0]["text"] == "your invoice is ready"
    xss = (await client.get("/recordings", params={"q": "<script>alert"}, headers=SUPERVISOR)).json()
    assert [r["id"] for r in xss["items"]] == [calls["a1"]]


REJECTED_PARAMS = [
    {"sort": "started_at; DROP TABLE recordings"},
    {"sort": "id"},
    {"sort": "(SELECT 1)"},
    {"state": "ready' OR '1'='1"},
    {"limit": "100000"},
    {"limit": "0"},
    {"offset": "-1"},
    {"call_id": "x\x00y"},
    {"queue": "a\r\nb"},
    {"started_from": "yesterday"},
    {"legal_hold": "maybe"},
    {"q": "x" * 201},
]


async def test_sort_and_filter_parameters_outside_the_allow_list_are_rejected(api, calls) -> None:
    client, _ = api
    for params in REJECTED_PARAMS:
        response = await client.get("/recordings", params=params, headers=SUPERVISOR)
        assert response.status_code == 422, (params, response.text)
    assert (await client.get("/recordings", headers=SUPERVISOR)).json()["total"] == 3


async def test_allowed_sorts_and_filters_work(api, calls, clock) -> None:
    client, _ = api
    by_start = (await client.get("/recordings", params={"sort": "started_at"}, headers=SUPERVISOR)).json()
    assert [r["id"] for r in by_start["items"]] == [calls["a1"], calls["a2"], calls["live"]]
    recording = (await client.get("/recordings", params={"state": "recording"}, headers=SUPERVISOR)).json()
    assert [r["id"] for r in recording["items"]] == [calls["live"]]
    since = (clock.now() - timedelta(seconds=1)).replace(tzinfo=None).isoformat()  # no zone: taken as UTC
    assert (await client.get("/recordings", params={"started_from": since}, headers=SUPERVISOR)).json()[
        "total"
    ] == 1
    paged = await client.get(
        "/recordings", params={"limit": 1, "offset": 1, "sort": "started_at"}, headers=SUPERVISOR
    )
    assert [r["id"] for r in paged.json()["items"]] == [calls["a2"]]


TRAVERSALS = [
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e",
    "sb-40.1.wav",
    "monitor%2Fsb-40.1.wav",
    "%00",
    "*",
    "01ARZ3NDEKTSV4RRFFQ69G5FA%2F",
    "..",
    "%2Fetc%2Fpasswd",
    "~root",
    "%2E%2E%5C%2E%2E%5Cwindows",
    "..%2F" * 40 + "etc%2Fpasswd",
]


async def test_path_traversal_ids_are_404_without_touching_the_file_system(api, calls, local_dir) -> None:
    client, _ = api
    assert (local_dir / "sb-40.1.wav").exists()  # a real file whose name an attacker could guess
    OpenedPaths.seen.clear()
    OpenedPaths.armed = True
    try:
        for hostile in TRAVERSALS:
            for suffix in ("", "/audio", "/download"):
                url = f"/recordings/{hostile}{suffix}"
                response = await client.get(url, headers=SUPERVISOR, follow_redirects=True)
                assert response.status_code == 404, (url, response.status_code)
    finally:
        OpenedPaths.armed = False
    assert not [p for p in OpenedPaths.seen if "monitor" in p or "passwd" in p or "40.1" in p], (
        OpenedPaths.seen
    )
    OpenedPaths.armed = True  # control: the hook does see the file a real id opens
    try:
        assert (await client.get(f"/recordings/{calls['a1']}/audio", headers=SUPERVISOR)).status_code == 200
    finally:
        OpenedPaths.armed = False
    assert str(local_dir / "sb-40.1.wav") in OpenedPaths.seen


async def test_guessed_ids_are_404_and_a_real_one_plays(api, calls) -> None:
    client, _ = api
    for guess in (new_id(), calls["a1"][:-1] + ("0" if calls["a1"][-1] != "0" else "1"), calls["a1"].lower()):
        assert (await client.get(f"/recordings/{guess}/audio", headers=SUPERVISOR)).status_code == 404
    assert (await client.get(f"/recordings/{calls['a1']}/audio", headers=SUPERVISOR)).status_code == 200


async def test_playback_supports_ranges_for_seeking(api, calls) -> None:
    client, _ = api
    url = f"/recordings/{calls['a1']}/audio"
    whole = await client.get(url, headers=SUPERVISOR)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "audio/wav" and whole.content[:4] == b"RIFF"
    size = len(whole.content)
    assert int(whole.headers["content-length"]) == size == 44 + len(PCM)
    assert whole.headers["cache-control"] == "private, no-store"
    first = await client.get(url, headers={**SUPERVISOR, "Range": "bytes=0-99"})
    assert first.status_code == 206 and first.content == whole.content[:100]
    assert first.headers["content-range"] == f"bytes 0-99/{size}" and first.headers["content-length"] == "100"
    seek = await client.get(url, headers={**SUPERVISOR, "Range": "bytes=10000-"})
    assert seek.status_code == 206 and seek.content == whole.content[10000:]
    tail = await client.get(url, headers={**SUPERVISOR, "Range": "bytes=-10"})
    assert (
        tail.content == whole.content[-10:]
        and tail.headers["content-range"] == f"bytes {size - 10}-{size - 1}/{size}"
    )
    download = await client.get(f"/recordings/{calls['a1']}/download", headers=SUPERVISOR)
    assert download.content == whole.content
    assert download.headers["content-disposition"] == f'attachment; filename="recording-{calls["a1"]}.wav"'


BAD_RANGES = [
    "bytes=999999-",
    "bytes=5-1",
    "bytes=0-1,4-5",
    "bytes=abc",
    "pages=0-1",
    "bytes=" + "9" * 30 + "-",
    "bytes=0-" + "0" * 150,
    "bytes=-0",
    "bytes=\u0663-".encode(),
    "bytes=0-1\x00",
]


async def test_oversized_or_malformed_ranges_get_416_with_the_size(api, calls) -> None:
    client, service = api
    for header in BAD_RANGES:
        response = await client.get(
            f"/recordings/{calls['a1']}/audio", headers={**SUPERVISOR, "Range": header}
        )
        assert response.status_code == 416, header
        assert response.headers["content-range"] == f"bytes */{44 + len(PCM)}"
    assert await service.queries.audit_log(calls["a1"]) == []  # nothing was served, nothing was heard


async def test_every_listen_and_download_is_audited_with_user_and_address(api, calls, clock) -> None:
    client, service = api
    url = f"/recordings/{calls['a1']}"
    for header in ("bytes=0-", "bytes=100-", "bytes=5000-"):  # one playback: several range requests
        await client.get(f"{url}/audio", headers={**AGENT_A1, "Range": header})
    await client.get(f"{url}/download", headers=SUPERVISOR)
    await client.get(f"{url}/download", headers=SUPERVISOR)
    await clock.advance(301)
    await client.get(f"{url}/audio", headers=AGENT_A1)  # a later listen is a new entry
    log = (await client.get(f"{url}/audit", headers=SUPERVISOR)).json()
    assert [(e["user_id"], e["action"], e["client_ip"]) for e in log] == [
        ("user-a1", "listen", "203.0.113.7"),
        ("sup-1", "download", "203.0.113.7"),
        ("sup-1", "download", "203.0.113.7"),
        ("user-a1", "listen", "203.0.113.7"),
    ]
    assert (await client.get(f"{url}/audit", headers=AGENT_A1)).status_code == 403
    refused = await client.get(f"{url}/audio", headers={**AGENT_A2})
    assert refused.status_code == 404
    assert len(await service.queries.audit_log(calls["a1"])) == 4  # refused and 416 requests are not listens


async def test_missing_file_gives_a_clear_state_not_a_500(api, calls, local_dir, queries) -> None:
    client, _ = api
    (local_dir / "sb-40.2.wav").unlink()
    response = await client.get(f"/recordings/{calls['a2']}/audio", headers=SUPERVISOR)
    assert response.status_code == 410
    assert response.json()["state"] == "missing" and "file not found" in response.json()["problem"]
    rec = await queries.get(calls["a2"])
    assert rec is not None and rec.state is RecordingState.MISSING
    listed = (await client.get(f"/recordings/{calls['a2']}", headers=SUPERVISOR)).json()
    assert listed["state"] == "missing"
    assert (await client.get(f"/recordings/{calls['live']}/audio", headers=SUPERVISOR)).status_code == 409


async def test_truncated_file_is_marked_damaged_and_still_downloadable(
    api, catalogue, store, queries, clock, local_dir, golden_dir
) -> None:
    client, _ = api
    rec_id = await finished_recording(catalogue, clock, "41.1", pcm=None)
    data = (golden_dir / "media" / "mixmonitor-8k.wav").read_bytes()[:2000]
    (local_dir / "sb-41.1.wav").write_bytes(data)
    await clock.advance(5)
    await TranscriptionWorker(store, catalogue.mapper, clock, None, WorkerConfig()).run_once()
    body = (await client.get(f"/recordings/{rec_id}", headers=SUPERVISOR)).json()
    assert body["state"] == "damaged" and "truncated" in body["problem"]
    response = await client.get(f"/recordings/{rec_id}/download", headers=SUPERVISOR)
    assert response.status_code == 200 and response.content == data


async def test_legal_hold_is_for_supervisors_and_audited(api, calls) -> None:
    client, service = api
    url = f"/recordings/{calls['a1']}/legal-hold"
    assert (await client.put(url, json={"hold": True}, headers=AGENT_A1)).status_code == 403
    held = await client.put(url, json={"hold": True}, headers=SUPERVISOR)
    assert held.status_code == 200 and held.json()["legal_hold"] is True
    assert (await client.put(url, json={"hold": "yes please"}, headers=SUPERVISOR)).status_code == 422
    released = await client.put(url, json={"hold": False}, headers=ADMIN)
    assert released.json()["legal_hold"] is False
    actions = [e.action for e in await service.queries.audit_log(calls["a1"])]
    assert actions == [AuditAction.LEGAL_HOLD_OFF, AuditAction.LEGAL_HOLD_ON]
    assert (
        await client.put(f"/recordings/{new_id()}/legal-hold", json={"hold": True}, headers=SUPERVISOR)
    ).status_code == 404


async def test_failed_transcription_can_be_queued_again(api, calls, store, clock) -> None:
    client, _ = api
    assert (
        await client.post(f"/recordings/{calls['live']}/transcribe", headers=SUPERVISOR)
    ).status_code == 409
    response = await client.post(f"/recordings/{calls['a1']}/transcribe", headers=SUPERVISOR)
    assert response.status_code == 202 and response.json()["state"] == "ready"
    assert [j.recording_id for j in await store.claim("w", clock.now(), 10, 60)] == [calls["a1"]]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_openapi_schema_lists_the_routes(api) -> None:
    client, _ = api
    schema = client._transport.app.openapi()  # type: ignore[attr-defined]
    assert {"/recordings", "/recordings/{recording_id}", "/recordings/{recording_id}/audio"} <= set(
        schema["paths"]
    )
    sort = schema["paths"]["/recordings"]["get"]["parameters"]
    assert any(p["name"] == "sort" and "enum" in str(p["schema"]) for p in sort)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "q",
                "state",
                "call_id",
                "agent_id",
                "queue",
                "caller_number",
                "started_from",
                "started_to",
                "legal_hold",
                "sort",
                "limit",
                "offset",
            ]
        ),
        st.text(max_size=30),
        max_size=5,
    ),
    rec_id=st.text(max_size=100),
    range_header=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
)
async def test_fuzzed_requests_never_cause_a_server_error(api, calls, params, rec_id, range_header) -> None:
    client, _ = api
    listed = await client.get("/recordings", params=params, headers=SUPERVISOR)
    assert listed.status_code in (200, 422), listed.text
    for path in (quote(rec_id, safe="") or "x", calls["a1"]):
        response = await client.get(
            f"/recordings/{path}/audio", headers={**SUPERVISOR, "Range": range_header}
        )
        assert response.status_code in (200, 206, 404, 416), (path, range_header, response.status_code)


def test_each_route_states_its_role_with_the_real_guard() -> None:
    from switchboard.users.model import Role
    from switchboard.web.auth import RoleGuard, require_role

    router = make_router(None, require_role=require_role)  # type: ignore[arg-type]
    needs = {}
    for route in router.routes:
        guards = [d.call for d in route.dependant.dependencies if isinstance(d.call, RoleGuard)]  # type: ignore[attr-defined]
        assert len(guards) == 1, route.path  # type: ignore[attr-defined]
        for method in route.methods:  # type: ignore[attr-defined]
            needs[(method, route.path)] = guards[0].minimum  # type: ignore[attr-defined]
    assert needs == {
        ("GET", "/recordings"): Role.AGENT,
        ("GET", "/recordings/{recording_id}"): Role.AGENT,
        ("GET", "/recordings/{recording_id}/audio"): Role.AGENT,
        ("GET", "/recordings/{recording_id}/download"): Role.AGENT,
        ("PUT", "/recordings/{recording_id}/legal-hold"): Role.SUPERVISOR,
        ("GET", "/recordings/{recording_id}/audit"): Role.SUPERVISOR,
        ("POST", "/recordings/{recording_id}/transcribe"): Role.SUPERVISOR,
    }
