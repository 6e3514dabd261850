"""HTTP for surveys: Kannel's reply and delivery-report webhooks, CSAT results (JSON and CSV), the outbox.

Webhooks authenticate the gateway by source address and shared secret (HTTP Basic password, which
Kannel sends from ``http://user:secret@host/...`` in its get-url); DLR URLs carry a per-survey HMAC
instead, so the secret never passes through Kannel's sendsms logs. Results routes take the role
check the application injects (``supervisor=Depends(...)``-shaped callable).
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from surveys.model import DeliveryReport, DeliveryStatus, InboundSms, SurveyState
from surveys.phone import mask
from surveys.results import CsatReport, CsatRow, Dimension, ResultFilter, report_csv
from surveys.service import SurveyService
from surveys.store import ReplyRecord, SurveyRecord
from surveys.webhook_auth import SourceAllowList, basic_auth_secret_ok, dlr_signature_ok
from switchboard.settings import SurveysSettings

log = logging.getLogger(__name__)

MAX_QUERY_BYTES = 32 * 1024
MAX_RESULT_DAYS = 366
KANNEL_DLR_TYPES = {
    1: DeliveryStatus.DELIVERED,
    2: DeliveryStatus.UNDELIVERABLE,
    4: DeliveryStatus.ACCEPTED,
    8: DeliveryStatus.ACCEPTED,
    16: DeliveryStatus.REJECTED,
}


def _raw_query(request: Request) -> dict[str, bytes]:
    """Query parameters as bytes: Kannel passes UCS-2 and 8-bit texts percent-encoded byte by byte."""
    raw: bytes = request.scope.get("query_string", b"")
    if len(raw) > MAX_QUERY_BYTES:
        raise HTTPException(414, f"query string over {MAX_QUERY_BYTES} bytes")
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    return {key: value.encode("latin-1") for key, value in pairs}


async def _limited_body(request: Request) -> bytes:
    """The request body, refused past MAX_QUERY_BYTES (a reply is never that long)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_QUERY_BYTES:
        raise HTTPException(413, f"body over {MAX_QUERY_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_QUERY_BYTES:
            raise HTTPException(413, f"body over {MAX_QUERY_BYTES} bytes")
    return body


def _content_charset(content_type: str) -> str:
    """``text/plain; charset="UTF-8"`` -> ``UTF-8``."""
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"')
    return ""


def decode_text(data: bytes, charset: str, coding: str) -> str:
    """Decode an SMS text as Kannel describes it (%C charset, %c coding: 0 7-bit, 1 8-bit, 2 UCS-2)."""
    name = charset.strip().upper()
    if name in ("UTF-16BE", "UTF-16", "UCS-2", "UCS2") or (coding == "2" and not name):
        return data.decode("utf-16-be", errors="replace")
    if name in ("", "UTF-8", "UTF8", "8-BIT"):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")
    try:
        return data.decode(codecs.lookup(name).name, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def _text(params: dict[str, bytes], key: str, limit: int = 200) -> str:
    return params.get(key, b"").decode("utf-8", errors="replace")[:limit]


def make_router(
    service: SurveyService, settings: SurveysSettings, *, supervisor: Callable[..., Any] | None = None
) -> APIRouter:
    """The survey routes under ``/surveys``; ``supervisor`` guards the results routes when given."""
    router = APIRouter(prefix="/surveys", tags=["surveys"])
    allowed = SourceAllowList(settings.webhook_allowed_sources)
    secret = settings.webhook_secret.get_secret_value()
    guarded = [Depends(supervisor)] if supervisor is not None else []

    def check_source(request: Request) -> None:
        host = request.client.host if request.client else None
        if not allowed.allows(host):
            log.warning(
                "survey webhook refused: source %s not in webhook_allowed_sources path=%s",
                host,
                request.url.path,
            )
            raise HTTPException(403, "source address not allowed")
        if not secret:
            log.error("survey webhook refused: SWITCHBOARD_SURVEYS_WEBHOOK_SECRET is not set")
            raise HTTPException(503, "webhook secret not configured")

    async def kannel_reply(request: Request) -> Response:
        """Kannel sms-service reply webhook.

        post-url (recommended, the text stays out of URLs and access logs): the body is the text, its
        charset in Content-Type, X-Kannel-Coding the coding; ``?from=%p&id=%I`` in the URL.
        get-url: ``?from=%p&to=%P&text=%a&id=%I&charset=%C&coding=%c``.
        """
        check_source(request)
        if not basic_auth_secret_ok(request.headers.get("authorization"), secret):
            log.warning("survey webhook refused: wrong or missing secret path=%s", request.url.path)
            raise HTTPException(
                401, "wrong or missing secret", headers={"WWW-Authenticate": 'Basic realm="sms"'}
            )
        params = _raw_query(request)
        headers = request.headers
        if request.method == "POST":
            body = await _limited_body(request)
            charset = _content_charset(headers.get("content-type", "")) or headers.get("x-kannel-charset", "")
            text = decode_text(body, charset[:32], headers.get("x-kannel-coding", "").strip()[:4])
            sender = (_text(params, "from", 64) or headers.get("x-kannel-from", "")[:64]).strip()
            receiver = _text(params, "to", 64) or headers.get("x-kannel-to", "")[:64]
            if not sender:
                raise HTTPException(400, "missing field(s): from")
        else:
            missing = [key for key in ("from", "text") if key not in params]
            if missing:
                raise HTTPException(400, f"missing field(s): {', '.join(missing)}")
            sender = _text(params, "from", 64).strip()
            if not sender:
                raise HTTPException(400, "empty field: from")
            text = decode_text(
                params["text"], _text(params, "charset", 32), _text(params, "coding", 4).strip()
            )
            receiver = _text(params, "to", 64)
        sms = InboundSms(
            sender=sender,
            text=text,
            gateway="kannel",
            receiver=receiver,
            message_id=_text(params, "id", 80).strip() or None,
        )
        outcome = await service.handle_reply(sms)
        return PlainTextResponse("", headers={"X-Survey-Reply": outcome.kind.value})

    async def kannel_report(request: Request) -> Response:
        """Kannel dlr-url: survey, attempt and sig are ours; type=%d, fid=%F, answer=%A are Kannel's."""
        check_source(request)
        params = _raw_query(request)
        missing = [key for key in ("survey", "attempt", "sig", "type") if not params.get(key)]
        if missing:
            raise HTTPException(400, f"missing field(s): {', '.join(missing)}")
        survey_id = _text(params, "survey", 40)
        try:
            attempt = int(_text(params, "attempt", 6))
            kind = int(_text(params, "type", 6))
        except ValueError:
            raise HTTPException(400, "attempt and type must be integers") from None
        if not dlr_signature_ok(secret, survey_id, attempt, _text(params, "sig", 64)):
            log.warning("survey delivery report refused: bad signature survey_id=%s", survey_id)
            raise HTTPException(401, "bad signature")
        status = KANNEL_DLR_TYPES.get(kind)
        if status is None:
            raise HTTPException(400, f"unknown delivery report type {kind}")
        report = DeliveryReport(
            gateway="kannel",
            status=status,
            survey_id=survey_id,
            message_id=_text(params, "fid", 80).strip() or None,
            detail=_text(params, "answer", 200),
        )
        await service.handle_delivery_report(report)
        return PlainTextResponse("")

    # The webhooks are plain Starlette routes: Kannel calls them once per SMS and report, and they parse
    # their own query (bytes, not text), so FastAPI's parameter handling would only add cost.
    router.add_route("/surveys/kannel/mo", kannel_reply, methods=["GET", "POST"], include_in_schema=False)
    router.add_route("/surveys/kannel/dlr", kannel_report, methods=["GET"], include_in_schema=False)

    def period(since: date | None, until: date | None) -> tuple[datetime, datetime]:
        zone = service.config.report_timezone
        last = until or service.clock.now().astimezone(zone).date()
        first = since or last - timedelta(days=29)
        if first > last:
            raise HTTPException(400, "since is after until")
        if (last - first).days >= MAX_RESULT_DAYS:
            raise HTTPException(400, f"at most {MAX_RESULT_DAYS} days at a time")
        start = datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC)
        end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
        return start, end

    async def report(
        by: Dimension,
        since: date | None,
        until: date | None,
        agent_id: str | None,
        queue: str | None,
        skill: str | None,
        ivr_outcome: str | None,
    ) -> CsatReport:
        start, end = period(since, until)
        filters = ResultFilter(agent_id=agent_id, queue=queue, skill=skill, ivr_outcome=ivr_outcome)
        return await service.results(by, start, end, filters)

    @router.get("/results", dependencies=guarded)
    async def results(
        by: Dimension = Dimension.AGENT,
        since: Annotated[
            date | None, Query(description="First day (report time zone); default until-29")
        ] = None,
        until: Annotated[date | None, Query(description="Last day, inclusive; default today")] = None,
        agent_id: str | None = None,
        queue: str | None = None,
        skill: str | None = None,
        ivr_outcome: str | None = None,
    ) -> JSONResponse:
        """CSAT (percent of ratings 4-5), average rating and response rate per group."""
        data = await report(by, since, until, agent_id, queue, skill, ivr_outcome)
        return JSONResponse(
            {
                "by": data.by.value,
                "since": data.since.isoformat(),
                "until": data.until.isoformat(),
                "timezone": data.timezone,
                "rows": [_row_json(r) for r in data.rows],
                "total": _row_json(data.total),
            }
        )

    @router.get("/results.csv", dependencies=guarded, response_class=PlainTextResponse)
    async def results_csv(
        by: Dimension = Dimension.AGENT,
        since: date | None = None,
        until: date | None = None,
        agent_id: str | None = None,
        queue: str | None = None,
        skill: str | None = None,
        ivr_outcome: str | None = None,
    ) -> Response:
        """The same results as CSV, for spreadsheets."""
        data = await report(by, since, until, agent_id, queue, skill, ivr_outcome)
        name = f"csat-{data.by.value}-{data.since.date().isoformat()}.csv"
        return Response(
            report_csv(data),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @router.get("/calls/{call_id}", dependencies=guarded)
    async def call_survey(call_id: str) -> JSONResponse:
        """A call's survey: state, rating and replies (call detail, agent desk)."""
        view = await service.survey_for_call(call_id[:64])
        if view is None:
            raise HTTPException(404, "no survey for this call")
        return JSONResponse({**_survey_json(view.survey), "replies": [_reply_json(r) for r in view.replies]})

    @router.get("/outbox", dependencies=guarded)
    async def outbox(
        state: list[SurveyState] = Query(default=[]),  # noqa: B008
        limit: int = Query(100, ge=1, le=1000),
    ) -> JSONResponse:
        """The newest surveys, optionally only some states (e.g. ?state=failed&state=uncertain)."""
        records = await service.outbox(list(state), limit)
        return JSONResponse([_survey_json(r) for r in records])

    @router.get("/unmatched", dependencies=guarded)
    async def unmatched(limit: int = Query(100, ge=1, le=1000)) -> JSONResponse:
        """Replies that answer no survey (unknown number, too late, unusable sender)."""
        return JSONResponse([_reply_json(r) for r in await service.unmatched(limit)])

    return router


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _row_json(row: CsatRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "sent": row.sent,
        "responses": row.responses,
        "satisfied": row.satisfied,
        "csat": row.csat,
        "average": row.average,
        "response_rate": row.response_rate,
    }


def _survey_json(r: SurveyRecord) -> dict[str, Any]:
    return {
        "survey_id": r.id,
        "call_id": r.call_id,
        "state": r.state.value,
        "reason": r.reason,
        "number": mask(r.number),
        "language": r.language,
        "agent_id": r.agent_id,
        "queue": r.queue,
        "skill": r.skill,
        "ivr_outcome": r.ivr_outcome,
        "call_ended_at": _iso(r.call_ended_at),
        "due_at": _iso(r.due_at),
        "attempts": r.attempts,
        "last_error": r.last_error,
        "gateway": r.gateway,
        "sent_at": _iso(r.sent_at),
        "delivered_at": _iso(r.delivered_at),
        "rating": r.rating,
        "rated_at": _iso(r.rated_at),
    }


def _reply_json(r: ReplyRecord) -> dict[str, Any]:
    return {
        "reply_id": r.id,
        "received_at": _iso(r.received_at),
        "number": mask(r.number),
        "text": r.text,
        "kind": r.kind,
        "rating": r.rating,
        "comment": r.comment,
        "reason": r.reason,
        "gateway": r.gateway,
    }
