"""The survey HTTP routes in-process: webhook authentication, hostile requests, results and exports."""

from __future__ import annotations

import base64
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI, HTTPException

from surveys.api import make_router
from surveys.gateways.log import LogGateway
from surveys.model import SurveyState
from surveys.ports import CallEnded
from surveys.webhook_auth import dlr_signature

# HTTP and gateway behaviour do not depend on the database; the store runs on both in test_survey_service.
pytestmark = pytest.mark.parametrize("survey_database", ["sqlite"], indirect=True)


def basic(secret: str, user: str = "kannel") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


@pytest.fixture
async def api(make_service, day_clock, kit):
    """A service with one sent survey (call-1 to New York) and an HTTP client on its router."""
    service = await make_service(gateway=LogGateway())
    await service.on_call_ended(
        CallEnded("call-1", kit.NY, "ann", "billing", "billing", "queue", "en", day_clock.now())
    )
    await day_clock.advance(300)
    await service.dispatch_due()

    def client(source: str = "127.0.0.1", supervisor=None, **overrides) -> httpx.AsyncClient:
        app = FastAPI()
        app.include_router(make_router(service, kit.settings(**overrides), supervisor=supervisor))
        transport = httpx.ASGITransport(app=app, client=(source, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://sb")

    return service, client


def mo(text: str = "4 good", sender: str = "+12125550123", **extra: str) -> str:
    fields = {"from": sender, "to": "12345", "text": text, "id": "msg-1", "charset": "UTF-8", "coding": "0"}
    fields.update(extra)
    return "/surveys/kannel/mo?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in fields.items())


async def test_reply_webhook_with_the_secret_stores_the_rating_on_the_call(api, kit):
    service, client = api
    async with client() as http:
        response = await http.get(mo(), headers=basic(kit.SECRET))
    assert response.status_code == 200 and response.text == ""
    view = await service.survey_for_call("call-1")
    assert view.survey.rating == 4 and view.replies[0].comment == "good"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("wrong"),
        basic(""),
        {"Authorization": "Bearer s3cret-Token_1"},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
    ],
)
async def test_reply_webhook_without_the_secret_is_refused_and_stores_nothing(api, headers):
    service, client = api
    async with client() as http:
        response = await http.get(mo(), headers=headers)
    assert response.status_code == 401
    assert (await service.survey_for_call("call-1")).replies == []
    assert await service.unmatched() == []


async def test_percent_encoded_secret_from_kannel_get_url_is_accepted(api):
    _service, client = api
    secret = "p@ss:w/rd"
    async with client(webhook_secret=secret) as http:
        # Kannel copies user:password from its get-url into the header without URL-decoding it.
        response = await http.get(mo(), headers=basic(quote(secret, safe="")))
    assert response.status_code == 200


async def test_webhooks_refuse_sources_outside_the_allow_list(api, kit):
    _service, client = api
    async with client(source="203.0.113.9") as http:
        assert (await http.get(mo(), headers=basic(kit.SECRET))).status_code == 403
    async with client(source="10.1.2.3", webhook_allowed_sources=["10.0.0.0/8"]) as http:
        assert (await http.get(mo(), headers=basic(kit.SECRET))).status_code == 200
    async with client(source="not-an-ip") as http:
        assert (await http.get(mo(), headers=basic(kit.SECRET))).status_code == 403


async def test_webhooks_refuse_everything_while_no_secret_is_configured(api):
    _service, client = api
    async with client(webhook_secret="") as http:
        response = await http.get(mo(), headers=basic(""))
    assert response.status_code == 503
    assert "secret" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/surveys/kannel/mo?to=1&text=5", "from"),
        ("/surveys/kannel/mo?from=%2B12125550123", "text"),
        ("/surveys/kannel/mo?from=&text=5", "from"),
        ("/surveys/kannel/mo", "from, text"),
    ],
)
async def test_reply_webhook_with_missing_fields_says_which(api, kit, path, detail):
    _service, client = api
    async with client() as http:
        response = await http.get(path, headers=basic(kit.SECRET))
    assert response.status_code == 400 and detail in response.json()["detail"]


async def test_ucs2_and_8bit_texts_from_kannel_are_decoded(api, kit):
    service, client = api
    ucs2 = quote("5 très bien \U0001f600 최고".encode("utf-16-be"), safe="")
    utf8 = quote("2 ça va \u0645\u0645\u062a\u0627\u0632".encode(), safe="")
    async with client() as http:
        r1 = await http.get(
            f"/surveys/kannel/mo?from=%2B12125550123&text={ucs2}&charset=UTF-16BE&coding=2&id=a",
            headers=basic(kit.SECRET),
        )
        r2 = await http.get(
            f"/surveys/kannel/mo?from=%2B12125550123&text={utf8}&charset=8-BIT&coding=1&id=b",
            headers=basic(kit.SECRET),
        )
        odd = quote(b"\xd8\x00", safe="")  # a lone surrogate half in UCS-2
        r3 = await http.get(
            f"/surveys/kannel/mo?from=%2B12125550123&text={odd}&charset=UTF-16BE&id=c",
            headers=basic(kit.SECRET),
        )
    assert (r1.status_code, r2.status_code, r3.status_code) == (200, 200, 200)
    replies = (await service.survey_for_call("call-1")).replies
    assert [r.text for r in replies[:2]] == [
        "5 très bien \U0001f600 최고",
        "2 ça va \u0645\u0645\u062a\u0627\u0632",
    ]
    assert replies[2].text == "\ufffd"
    assert (await service.survey_for_call("call-1")).survey.rating == 2


async def test_oversized_query_is_refused(api, kit):
    _service, client = api
    async with client() as http:
        response = await http.get(mo(text="x" * 40_000), headers=basic(kit.SECRET))
    assert response.status_code == 414


async def test_delivery_report_webhook_checks_the_signature(api, kit):
    service, client = api
    survey = (await service.survey_for_call("call-1")).survey
    good = dlr_signature(kit.SECRET, survey.id, 1)
    base = f"/surveys/kannel/dlr?survey={survey.id}&attempt=1&fid=smsc-9&answer=ACK%2F"
    async with client() as http:
        assert (await http.get(f"{base}&type=1&sig={'0' * 32}")).status_code == 401
        assert (
            await http.get(f"{base}&type=1&sig={dlr_signature(kit.SECRET, survey.id, 2)}")
        ).status_code == 401
        assert (await http.get(f"{base}&type=1")).status_code == 400
        assert (await http.get(f"{base}&type=abc&sig={good}")).status_code == 400
        assert (await http.get(f"{base}&type=3&sig={good}")).status_code == 400
        assert (await service.survey_for_call("call-1")).survey.state is SurveyState.SENT
        assert (await http.get(f"{base}&type=1&sig={good}")).status_code == 200
    assert (await service.survey_for_call("call-1")).survey.state is SurveyState.DELIVERED


async def test_results_json_csv_and_call_detail(api, kit):
    _service, client = api
    async with client() as http:
        await http.get(mo("5 lovely"), headers=basic(kit.SECRET))
        results = (await http.get("/surveys/results?by=agent&since=2026-01-01&until=2026-01-31")).json()
        csv_response = await http.get("/surveys/results.csv?by=queue&since=2026-01-01&until=2026-01-31")
        detail = (await http.get("/surveys/calls/call-1")).json()
        missing = await http.get("/surveys/calls/nope")
        outbox = (await http.get("/surveys/outbox?state=sent&state=delivered")).json()
        bad_range = await http.get("/surveys/results?since=2026-02-01&until=2026-01-01")
        too_long = await http.get("/surveys/results?since=2024-01-01&until=2026-01-01")
        bad_by = await http.get("/surveys/results?by=colour")
    assert results["rows"] == [
        {
            "key": "ann",
            "sent": 1,
            "responses": 1,
            "satisfied": 1,
            "csat": 100.0,
            "average": 5.0,
            "response_rate": 100.0,
        }
    ]
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert csv_response.text.splitlines()[1].startswith("billing,1,1,1,100,5,100")
    assert detail["rating"] == 5 and detail["replies"][0]["comment"] == "lovely"
    assert detail["number"] == "+12***123"  # numbers are masked in every API answer
    assert missing.status_code == 404
    assert [s["call_id"] for s in outbox] == ["call-1"]
    assert (bad_range.status_code, too_long.status_code, bad_by.status_code) == (400, 400, 422)


async def test_results_routes_use_the_injected_role_check(api, kit):
    _service, client = api

    def deny() -> None:
        raise HTTPException(403, "supervisors only")

    async with client(supervisor=deny) as http:
        assert (await http.get("/surveys/results")).status_code == 403
        assert (await http.get("/surveys/results.csv")).status_code == 403
        assert (await http.get("/surveys/calls/call-1")).status_code == 403
        assert (await http.get("/surveys/outbox")).status_code == 403
        assert (await http.get("/surveys/unmatched")).status_code == 403
        # The gateway webhook is authenticated by its own secret, not by a user role.
        assert (await http.get(mo(), headers=basic(kit.SECRET))).status_code == 200


async def test_reply_webhook_accepts_kannel_post_url_bodies(api, kit):
    service, client = api
    path = "/surveys/kannel/mo?from=%2B12125550123&to=Switchboard&id="
    async with client() as http:
        utf16 = await http.post(
            path + "p1",
            content="4 très bien \U0001f600 최고".encode("utf-16-be"),
            headers={
                **basic(kit.SECRET),
                "Content-Type": 'text/plain; charset="UTF-16BE"',
                "X-Kannel-Coding": "2",
            },
        )
        octets = await http.post(
            path + "p2",
            content="5 ça va".encode(),
            headers={**basic(kit.SECRET), "Content-Type": "application/octet-stream", "X-Kannel-Coding": "1"},
        )
        from_header = await http.post(
            "/surveys/kannel/mo?id=p3",
            content=b"3",
            headers={**basic(kit.SECRET), "X-Kannel-From": "+12125550123", "Content-Type": "text/plain"},
        )
        no_sender = await http.post("/surveys/kannel/mo", content=b"5", headers=basic(kit.SECRET))
        no_secret = await http.post(path + "p4", content=b"1")
        huge = await http.post(path + "p5", content=b"x" * 40_000, headers=basic(kit.SECRET))
    assert (utf16.status_code, octets.status_code, from_header.status_code) == (200, 200, 200)
    assert (no_sender.status_code, no_secret.status_code, huge.status_code) == (400, 401, 413)
    replies = (await service.survey_for_call("call-1")).replies
    assert [r.text for r in replies] == ["4 très bien \U0001f600 최고", "5 ça va", "3"]
    assert (await service.survey_for_call("call-1")).survey.rating == 3
