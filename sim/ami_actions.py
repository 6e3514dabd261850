"""AMI actions of the emulator, with the replies and list events Asterisk 22 writes (see the golden files)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sim.channels import Channel
from sim.expressions import split_args
from sim.originate import OriginateRequest, originate, parse_callerid
from sim.pjsip import DEVICE_STATE_TEXT

if TYPE_CHECKING:
    from sim.ami_server import AmiSession

log = logging.getLogger(__name__)

Headers = list[tuple[str, str]]
Handler = Callable[["AmiSession", "Request"], Awaitable[None]]

LOGIN_FAILURE_DELAY = 1.0  # manager.c sleeps 1 s before refusing a login


class Request:
    """An action's headers with case-insensitive lookup (repeated headers kept)."""

    def __init__(self, headers: Headers) -> None:
        self.headers = headers
        self.action = (self.get("Action") or "").strip()
        self.action_id = self.get("ActionID")

    def get(self, key: str) -> str | None:
        lowered = key.lower()
        for k, v in self.headers:
            if k.lower() == lowered:
                return v
        return None

    def all(self, key: str) -> list[str]:
        lowered = key.lower()
        return [v for k, v in self.headers if k.lower() == lowered]


def _reply(session: AmiSession, req: Request, status: str, pairs: Headers) -> None:
    head: Headers = [("Response", status)]
    if req.action_id:
        head.append(("ActionID", req.action_id))
    session.send_message(head + pairs)


def success(session: AmiSession, req: Request, message: str | None = None,
            pairs: Headers | None = None) -> None:
    _reply(session, req, "Success", ([("Message", message)] if message is not None else []) + (pairs or []))


def error(session: AmiSession, req: Request, message: str) -> None:
    _reply(session, req, "Error", [("Message", message)])


def list_ack(session: AmiSession, req: Request, message: str) -> None:
    """astman_send_listack(): EventList comes before Message."""
    _reply(session, req, "Success", [("EventList", "start"), ("Message", message)])


def _list_item(req: Request, event: str, pairs: Headers) -> Headers:
    head: Headers = [("Event", event)]
    if req.action_id:
        head.append(("ActionID", req.action_id))
    return head + pairs


def _list_complete(session: AmiSession, req: Request, event: str, count: int,
                   extra: Headers | None = None) -> None:
    pairs: Headers = [("EventList", "Complete"), ("ListItems", str(count)), *(extra or [])]
    session.send_message(_list_item(req, event, pairs))


async def handle_action(session: AmiSession, headers: Headers) -> None:
    """Dispatch one action; before login only Login, Challenge and Logoff are allowed."""
    req = Request(headers)
    name = req.action.lower()
    if not name:
        error(session, req, "Missing action in request")
        return
    if not session.authenticated and name not in ("login", "challenge", "logoff"):
        error(session, req, "Permission denied")
        return
    handler = ACTIONS.get(name)
    if handler is None:
        error(session, req,
              f"Invalid/unknown command: {req.action}. Use Action: ListCommands to show available commands.")
        return
    await handler(session, req)


async def a_login(session: AmiSession, req: Request) -> None:
    config = session.server.config
    if session.authenticated:
        success(session, req, "Already authenticated")
        return
    user = req.get("Username") or ""
    secret = req.get("Secret")
    key = req.get("Key")
    ok = hmac.compare_digest(user.encode(), config.username.encode())
    if (req.get("AuthType") or "").lower() == "md5" and session.challenge is not None and key is not None:
        # The AMI challenge protocol is defined with MD5.
        expected = hashlib.md5((session.challenge + config.secret).encode()).hexdigest()
        ok = ok and hmac.compare_digest(key.lower(), expected)
    else:
        ok = ok and secret is not None and hmac.compare_digest(secret.encode(), config.secret.encode())
    if not ok:
        log.info("ami login refused peer=%s user=%s", session.peer, user)
        await session.server.pbx.clock.sleep(LOGIN_FAILURE_DELAY)
        error(session, req, "Authentication failed")
        session.close()
        return
    session.authenticated = True
    events = (req.get("Events") or "on").strip().lower()
    session.events_on = events not in ("off", "no", "false", "0")
    success(session, req, "Authentication accepted")
    uptime = str(session.server.uptime())
    session.send_message([("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", uptime),
                          ("LastReload", uptime), ("Status", "Fully Booted")])


async def a_challenge(session: AmiSession, req: Request) -> None:
    if (req.get("AuthType") or "").lower() != "md5":
        error(session, req, "Must specify AuthType")
        return
    session.challenge = str(secrets.randbelow(10**9))
    success(session, req, pairs=[("Challenge", session.challenge)])


async def a_logoff(session: AmiSession, req: Request) -> None:
    _reply(session, req, "Goodbye", [("Message", "Thanks for all the fish.")])
    session.close()


async def a_ping(session: AmiSession, req: Request) -> None:
    success(session, req, pairs=[("Ping", "Pong"), ("Timestamp", f"{session.server.pbx.epoch():.6f}")])


async def a_events(session: AmiSession, req: Request) -> None:
    mask = (req.get("EventMask") or "").strip().lower()
    session.events_on = mask not in ("off", "no", "false", "0", "")
    _reply(session, req, "Success", [("Events", "On" if session.events_on else "Off")])


async def a_coresettings(session: AmiSession, req: Request) -> None:
    success(session, req, pairs=[
        ("AMIversion", "11.0.0"), ("AsteriskVersion", "22.11.0-rc1"), ("SystemName", ""),
        ("CoreMaxCalls", "0"), ("CoreMaxLoadAvg", "0.000000"), ("CoreRunUser", ""), ("CoreRunGroup", ""),
        ("CoreMaxFilehandles", "0"), ("CoreRealTimeEnabled", "No"), ("CoreCDRenabled", "Yes"),
        ("CoreHTTPenabled", "No"), ("SoundsSearchCustomDir", "No"),
    ])


def _channel(session: AmiSession, name: str | None) -> Channel | None:
    return session.server.pbx.find_channel(name.strip()) if name else None


async def a_getvar(session: AmiSession, req: Request) -> None:
    pbx = session.server.pbx
    variable = req.get("Variable")
    if not variable:
        error(session, req, "No variable specified")
        return
    ch = None
    if req.get("Channel"):
        ch = _channel(session, req.get("Channel"))
        if ch is None:
            error(session, req, "No such channel")
            return
    value = pbx.resolve(ch, variable)
    success(session, req, pairs=[("Variable", variable), ("Value", value or "")])


async def a_setvar(session: AmiSession, req: Request) -> None:
    pbx = session.server.pbx
    variable = req.get("Variable")
    if not variable:
        error(session, req, "No variable specified")
        return
    ch = None
    if req.get("Channel"):
        ch = _channel(session, req.get("Channel"))
        if ch is None:
            error(session, req, "No such channel")
            return
    success(session, req, "Variable Set")
    from sim.apps import assign

    if ch is None:
        pbx.set_var(None, variable, req.get("Value") or "")
    else:
        assign(pbx, ch, f"{variable}={req.get('Value') or ''}")


async def a_redirect(session: AmiSession, req: Request) -> None:
    pbx = session.server.pbx
    name, context, exten, prio = (req.get(k) for k in ("Channel", "Context", "Exten", "Priority"))
    if not name:
        error(session, req, "Channel not specified")
        return
    if not context:
        error(session, req, "Context not specified")
        return
    if not exten:
        error(session, req, "Exten not specified")
        return
    if not prio:
        error(session, req, "Priority not specified")
        return
    priority = int(prio) if prio.strip().isdigit() else pbx.dialplan.label(context, exten, prio.strip())
    if priority is None:
        error(session, req, "Invalid priority")
        return
    ch = _channel(session, name)
    if ch is None:
        error(session, req, f"Channel does not exist: {name}")
        return
    success(session, req, "Redirect successful")
    pbx.redirect(ch, context.strip(), exten.strip(), priority)


async def a_hangup(session: AmiSession, req: Request) -> None:
    name = req.get("Channel")
    if not name:
        error(session, req, "No channel specified")
        return
    ch = _channel(session, name)
    if ch is None:
        error(session, req, "No such channel")
        return
    cause_text = (req.get("Cause") or "").strip()
    success(session, req, "Channel Hungup")
    session.server.pbx.request_hangup(ch, int(cause_text) if cause_text.isdigit() else None)


async def a_originate(session: AmiSession, req: Request) -> None:
    pbx = session.server.pbx
    channel = (req.get("Channel") or "").strip()
    if not channel:
        error(session, req, "Channel not specified")
        return
    if "/" not in channel:
        error(session, req, "Invalid channel")
        return
    context, exten = (req.get("Context") or "").strip(), (req.get("Exten") or "").strip()
    prio = (req.get("Priority") or "1").strip() or "1"
    priority = int(prio) if prio.isdigit() else pbx.dialplan.label(context, exten, prio)
    if priority is None or priority < 1:
        error(session, req, "Invalid priority")
        return
    timeout_text = (req.get("Timeout") or "").strip()
    variables = []
    for header in req.all("Variable"):
        for item in split_args(header):
            key, sep, value = item.partition("=")
            if sep and key.strip():
                variables.append((key.strip(), value))
    request = OriginateRequest(
        channel=channel, context=context, exten=exten, priority=priority,
        application=(req.get("Application") or "").strip(), data=req.get("Data") or "",
        caller=parse_callerid(req.get("CallerID")),
        timeout=int(timeout_text) / 1000 if timeout_text.isdigit() else 30.0,
        variables=variables, action_id=req.action_id,
    )
    if (req.get("Async") or "").strip().lower() in ("true", "yes", "1", "on"):
        success(session, req, "Originate successfully queued")
        pbx.spawn(originate(pbx, request), name=f"originate {channel}")
        return
    if await originate(pbx, request):
        success(session, req, "Originate successfully queued")
    else:
        error(session, req, "Originate failed")


def _std(ch: Channel) -> Headers:
    return ch.std_fields()


async def a_coreshowchannels(session: AmiSession, req: Request) -> None:
    pbx = session.server.pbx
    list_ack(session, req, "Channels will follow")
    channels = [ch for ch in pbx.channels.values() if not ch.destroyed]
    for ch in channels:
        seconds = ch.duration(pbx.now())
        duration = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
        session.send_message(_list_item(req, "CoreShowChannel", [
            *_std(ch), ("Application", ch.application), ("ApplicationData", ch.appdata),
            ("Duration", duration), ("BridgeId", ch.bridge_id),
        ]))
    _list_complete(session, req, "CoreShowChannelsComplete", len(channels))


async def a_status(session: AmiSession, req: Request) -> None:
    pbx = session.server.pbx
    name = req.get("Channel")
    if name:
        ch = _channel(session, name)
        if ch is None:
            error(session, req, "No such channel")
            return
        channels = [ch]
    else:
        channels = [ch for ch in pbx.channels.values() if not ch.destroyed]
    list_ack(session, req, "Channel status will follow")
    for ch in channels:
        fmt = "slin" if ch.is_local else "ulaw"
        pairs: Headers = [("Event", "Status"), ("Privilege", "Call"), *_std(ch),
                          ("Type", ch.tech), ("DNID", ch.dnid),
                          ("EffectiveConnectedLineNum", ch.connected.number or "<unknown>"),
                          ("EffectiveConnectedLineName", ch.connected.name or "<unknown>"),
                          ("TimeToHangup", "0"), ("BridgeID", ch.bridge_id), ("Application", ch.application),
                          ("Data", ch.appdata), ("Nativeformats", f"({fmt})"), ("Readformat", fmt),
                          ("Readtrans", ""), ("Writeformat", fmt), ("Writetrans", ""), ("Callgroup", "0"),
                          ("Pickupgroup", "0"), ("Seconds", str(ch.duration(pbx.now())))]
        if req.action_id:
            pairs.append(("ActionID", req.action_id))
        session.send_message(pairs)
    _list_complete(session, req, "StatusComplete", len(channels), [("Items", str(len(channels)))])


async def a_devicestatelist(session: AmiSession, req: Request) -> None:
    registry = session.server.pbx.pjsip
    list_ack(session, req, "Device State Changes will follow")
    endpoints = list(registry.endpoints.values())
    for ep in endpoints:
        session.send_message(_list_item(req, "DeviceStateChange",
                                        [("Device", f"PJSIP/{ep.name}"), ("State", ep.device_state)]))
    _list_complete(session, req, "DeviceStateListComplete", len(endpoints))


async def a_pjsipshowendpoints(session: AmiSession, req: Request) -> None:
    registry = session.server.pbx.pjsip
    endpoints = sorted(registry.endpoints.values(), key=lambda e: e.name)
    if not endpoints:
        error(session, req, "No endpoints found\n")
        return
    list_ack(session, req, "A listing of Endpoints follows, presented as EndpointList events")
    for ep in endpoints:
        contacts = f"{ep.aors or ep.name}/{ep.contact}," if ep.contact else ""
        session.send_message(_list_item(req, "EndpointList", [
            ("ObjectType", "endpoint"), ("ObjectName", ep.name), ("Transport", ep.transport),
            ("Aor", ep.aors),
            ("Auths", ep.auth), ("OutboundAuths", ""), ("Contacts", contacts),
            ("DeviceState", DEVICE_STATE_TEXT.get(ep.device_state, "Unknown")),
            ("ActiveChannels", ",".join(registry.active_channels(ep.name))),
        ]))
    _list_complete(session, req, "EndpointListComplete", len(endpoints))


ACTIONS: dict[str, Handler] = {
    "login": a_login,
    "challenge": a_challenge,
    "logoff": a_logoff,
    "ping": a_ping,
    "events": a_events,
    "coresettings": a_coresettings,
    "getvar": a_getvar,
    "setvar": a_setvar,
    "redirect": a_redirect,
    "hangup": a_hangup,
    "originate": a_originate,
    "coreshowchannels": a_coreshowchannels,
    "status": a_status,
    "devicestatelist": a_devicestatelist,
    "pjsipshowendpoints": a_pjsipshowendpoints,
}
