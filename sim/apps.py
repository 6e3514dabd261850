"""Dialplan applications (all but Dial and AGI, which live in their own modules) and the registry."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sim.channels import CAUSE_BUSY, CAUSE_NORMAL_CLEARING, Channel
from sim.expressions import is_true, split_args
from sim.functions import parse_call, write_function
from sim.pbx import AppResult, Pbx
from sim.recording import start_mixmonitor, stop_mixmonitors

log = logging.getLogger(__name__)

AppFunc = Callable[[Pbx, Channel, str], Awaitable[AppResult]]

CAUSE_CONGESTION = 34


def _after_wait(ch: Channel, completed: bool) -> AppResult:
    """A wait that was cut short by a hang-up stops the dialplan; a redirect is applied by the PBX loop."""
    if completed or not ch.hangup_requested:
        return AppResult.CONTINUE
    return AppResult.HANGUP


def _seconds(text: str, default: float | None = None) -> float | None:
    try:
        return float(text)
    except ValueError:
        return default


async def app_noop(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    return AppResult.CONTINUE


async def app_answer(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    if pbx.answer(ch):
        await pbx.answer_settle(ch)
    return AppResult.HANGUP if ch.hangup_requested else AppResult.CONTINUE


async def app_wait(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    seconds = _seconds(data.strip() or "0", 0.0)
    return _after_wait(ch, await pbx.pause(ch, seconds))


async def app_ringing(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    pbx.indicate_ringing(ch)
    return AppResult.CONTINUE


async def app_busy(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    ch.hangupcause = ch.hangupcause or CAUSE_BUSY
    return AppResult.HANGUP


async def app_congestion(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    ch.hangupcause = ch.hangupcause or CAUSE_CONGESTION
    return AppResult.HANGUP


async def app_hangup(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    cause = data.strip()
    if cause.isdigit():
        ch.hangupcause = int(cause)
    elif ch.hangupcause == 0:
        ch.hangupcause = CAUSE_NORMAL_CLEARING
    return AppResult.HANGUP


def assign(pbx: Pbx, ch: Channel, assignment: str) -> None:
    """``NAME=value`` or ``FUNC(args)=value`` as Set() does it."""
    name, sep, value = assignment.partition("=")
    name = name.strip()
    if not sep or not name:
        log.warning("Set without '=' channel=%s data=%r", ch.name, assignment)
        return
    call = parse_call(name)
    if call is not None:
        if not write_function(pbx, ch, call[0], call[1], value):
            log.warning("cannot write function channel=%s function=%s", ch.name, call[0])
        return
    pbx.set_var(ch, name, value)


async def app_set(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    assign(pbx, ch, data)
    return AppResult.CONTINUE


async def app_mset(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    for part in split_args(data):
        assign(pbx, ch, part)
    return AppResult.CONTINUE


def goto(pbx: Pbx, ch: Channel, target: str) -> bool:
    """Move ``ch`` to ``[[context,]exten,]priority`` (priority may be a label); False when it is missing."""
    parts = [p.strip() for p in split_args(target)]
    if not parts or len(parts) > 3:
        return False
    context, exten = ch.context, ch.exten
    if len(parts) == 3:
        context, exten, prio_text = parts
    elif len(parts) == 2:
        exten, prio_text = parts
    else:
        prio_text = parts[0]
    if prio_text.isdigit():
        priority = int(prio_text)
    else:
        label = pbx.dialplan.label(context, exten, prio_text)
        if label is None:
            log.warning("goto to missing label channel=%s target=%s", ch.name, target)
            return False
        priority = label
    ch.context, ch.exten, ch.priority = context, exten, priority
    return True


async def app_goto(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    return AppResult.JUMP if goto(pbx, ch, data) else AppResult.HANGUP


async def app_gotoif(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    condition, _, branches = data.partition("?")
    yes, _, no = branches.partition(":")
    target = yes if is_true(condition) else no
    if not target.strip():
        return AppResult.CONTINUE
    return AppResult.JUMP if goto(pbx, ch, target) else AppResult.HANGUP


async def app_execif(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    condition, _, branches = data.partition("?")
    yes, _, no = branches.partition(":")
    chosen = (yes if is_true(condition) else no).strip()
    if not chosen:
        return AppResult.CONTINUE
    name, _, rest = chosen.partition("(")
    return await run_app(pbx, ch, name, rest[:-1] if rest.endswith(")") else rest)


async def play(pbx: Pbx, ch: Channel, name: str) -> bool | None:
    """Play one sound on ``ch``: True when it played to the end, False when interrupted, None when missing."""
    sound = pbx.sounds.find(name, ch.language)
    if sound is None:
        log.info("sound not found channel=%s sound=%s", ch.name, name)
        return None
    pbx.transmit(ch, sound.audio())
    return await pbx.pause(ch, sound.seconds)


async def app_playback(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    args = split_args(data)
    files = [f for f in (args[0] if args else "").split("&") if f]
    options = args[1] if len(args) > 1 else ""
    if "noanswer" not in options and pbx.answer(ch):
        await pbx.answer_settle(ch)
    status = "SUCCESS"
    for name in files:
        played = await play(pbx, ch, name)
        if played is None:
            status = "FAILED"
        elif not played:
            return _after_wait(ch, False)
    pbx.set_var(ch, "PLAYBACKSTATUS", status)
    return AppResult.CONTINUE


async def app_saydigits(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    for digit in split_args(data)[0] if data else "":
        if digit.isdigit() and await play(pbx, ch, f"digits/{digit}") is False:
            return _after_wait(ch, False)
    return AppResult.CONTINUE


async def app_senddtmf(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    args = split_args(data)
    digits = args[0] if args else ""
    between = (_seconds(args[1], 250.0) if len(args) > 1 and args[1] else 250.0) or 250.0
    duration = (_seconds(args[2], 100.0) if len(args) > 2 and args[2] else 100.0) or 100.0
    if not await pbx.pause(ch, 0.1):
        return _after_wait(ch, False)
    for digit in digits:
        if not await pbx.pause(ch, duration / 1000):
            return _after_wait(ch, False)
        pbx.send_dtmf(ch, digit)
        if not await pbx.pause(ch, between / 1000):
            return _after_wait(ch, False)
    return AppResult.CONTINUE


async def app_musiconhold(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    args = split_args(data)
    moh_class = (args[0] if args else "") or "default"
    duration = _seconds(args[1]) if len(args) > 1 and args[1] else None
    pbx.emit("MusicOnHoldStart", "call,all", [*ch.std_fields(), ("Class", moh_class)])
    pbx.start_media(ch)
    completed = await pbx.pause(ch, duration if duration and duration > 0 else None)
    pbx.emit("MusicOnHoldStop", "call,all", ch.std_fields())
    return _after_wait(ch, completed)


async def app_mixmonitor(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    args = split_args(data)
    if not args or not args[0]:
        log.warning("MixMonitor without a file name channel=%s", ch.name)
        return AppResult.CONTINUE
    start_mixmonitor(pbx, ch, args[0], args[1] if len(args) > 1 else "")
    return AppResult.CONTINUE


async def app_stopmixmonitor(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    stop_mixmonitors(pbx, ch, emit_stop=True)
    return AppResult.CONTINUE


async def app_userevent(pbx: Pbx, ch: Channel, data: str) -> AppResult:
    args = split_args(data)
    fields = [("UserEvent", args[0] if args else "")]
    for extra in args[1:]:
        key, _, value = extra.partition(":")
        fields.append((key.strip(), value.strip()))
    pbx.emit("UserEvent", "user,all", [*ch.std_fields(), *fields])
    return AppResult.CONTINUE


def _registry() -> dict[str, AppFunc]:
    from sim.agi_channel import app_agi
    from sim.dial import app_dial

    apps: dict[str, AppFunc] = {
        "noop": app_noop,
        "verbose": app_noop,
        "log": app_noop,
        "progress": app_noop,
        "answer": app_answer,
        "wait": app_wait,
        "ringing": app_ringing,
        "busy": app_busy,
        "congestion": app_congestion,
        "hangup": app_hangup,
        "set": app_set,
        "mset": app_mset,
        "goto": app_goto,
        "gotoif": app_gotoif,
        "execif": app_execif,
        "playback": app_playback,
        "background": app_playback,
        "saydigits": app_saydigits,
        "senddtmf": app_senddtmf,
        "musiconhold": app_musiconhold,
        "mixmonitor": app_mixmonitor,
        "stopmixmonitor": app_stopmixmonitor,
        "userevent": app_userevent,
        "dial": app_dial,
        "agi": app_agi,
    }
    return apps


_APPS: dict[str, AppFunc] = {}


def find_app(name: str) -> AppFunc | None:
    """The application called ``name`` (case-insensitive), or None."""
    if not _APPS:
        _APPS.update(_registry())
    return _APPS.get(name.strip().lower())


async def run_app(pbx: Pbx, ch: Channel, name: str, data: str) -> AppResult:
    """Run one application; an unknown one ends the call as Asterisk does."""
    app = find_app(name)
    if app is None:
        log.warning("no application %r channel=%s", name, ch.name)
        return AppResult.HANGUP
    return await app(pbx, ch, data)
