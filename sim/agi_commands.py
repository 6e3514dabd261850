"""The AGI commands: what each does to the emulated channel and the reply line res_agi.c sends back."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sim.agi_channel import AgiSessionState
from sim.agi_record import handle_record_file
from sim.apps import find_app, run_app
from sim.channels import CAUSE_NORMAL_CLEARING
from sim.media import RATE
from sim.pbx import AppResult

log = logging.getLogger(__name__)

Handler = Callable[[AgiSessionState, list[str]], Awaitable[str | None]]  # None: show usage (520)


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    handler: Handler
    dead_ok: bool
    usage: str


async def _digit_or_end(state: AgiSessionState, seconds: float, escape: str) -> tuple[str | None, float]:
    """Play for ``seconds`` unless an escape digit comes.

    Returns (the digit, "" when played to the end, None when interrupted) and the seconds played.
    """
    pbx, ch = state.pbx, state.ch
    start = pbx.now()
    deadline = start + seconds
    while True:
        while ch.digits:
            digit = ch.digits.pop(0)
            if digit in escape:
                return digit, pbx.now() - start
        if ch.interrupted:
            return None, pbx.now() - start
        remaining = deadline - pbx.now()
        if remaining <= 0:
            return "", seconds
        await ch.signal.wait(pbx.clock, remaining)


async def stream(state: AgiSessionState, name: str, escape: str, offset: int = 0) -> tuple[int, int] | None:
    """STREAM FILE semantics: (result code, endpos samples); None when the file does not exist."""
    pbx, ch = state.pbx, state.ch
    sound = pbx.sounds.find(name, ch.language)
    if sound is None:
        return None
    offset = max(0, min(offset, sound.samples))
    pbx.transmit(ch, sound.audio()[offset * 2 :])
    with pbx.listening(ch):
        digit, played = await _digit_or_end(state, (sound.samples - offset) / RATE, escape)
    endpos = min(sound.samples, offset + round(played * RATE))
    if digit is None:
        return -1, endpos
    if digit == "":
        return 0, sound.samples
    return ord(digit), endpos


async def h_answer(state: AgiSessionState, argv: list[str]) -> str | None:
    if state.pbx.answer(state.ch):
        await state.pbx.answer_settle(state.ch)
    if state.ch.interrupted:
        return "200 result=-1\n"
    return "200 result=0\n"


async def h_channel_status(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) == 2:
        return f"200 result={int(state.ch.state)}\n"
    if len(argv) == 3:
        other = state.pbx.find_channel(argv[2])
        return f"200 result={int(other.state)}\n" if other is not None else "200 result=-1\n"
    return None


async def h_exec(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) < 2:
        return None
    if find_app(argv[1]) is None:
        log.info("AGI EXEC of unknown application channel=%s app=%s", state.ch.name, argv[1])
        return "200 result=-2\n"
    result = await run_app(state.pbx, state.ch, argv[1], argv[2] if len(argv) > 2 else "")
    if result is AppResult.JUMP:
        state.jumped = True
    return f"200 result={-1 if result is AppResult.HANGUP else 0}\n"


async def h_get_data(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) < 3:
        return None
    pbx, ch = state.pbx, state.ch
    timeout_ms = _int(argv[3]) if len(argv) >= 4 else 0
    max_digits = _int(argv[4]) if len(argv) >= 5 else 1024
    first_timeout, next_timeout = 6.0, 2.0
    if timeout_ms > 0:
        first_timeout = next_timeout = timeout_ms / 1000
    elif timeout_ms < 0:
        first_timeout = next_timeout = None  # type: ignore[assignment]
    sound = pbx.sounds.find(argv[2], ch.language)
    if sound is None:
        return "200 result=-1\n"
    digits = ""
    with pbx.listening(ch):
        pbx.transmit(ch, sound.audio())
        digit, _ = await _digit_or_end(state, sound.seconds, "0123456789*#ABCD")
        wait = first_timeout
        while True:
            if digit is None:
                return "200 result=-1\n"
            if digit == "":
                digit = await pbx.next_digit(ch, wait)
                if digit is None:
                    return "200 result=-1\n"
                if digit == "":
                    return f"200 result={digits} (timeout)\n"
            if digit == "#":
                return f"200 result={digits}\n"
            digits += digit
            if len(digits) >= max(1, max_digits):
                return f"200 result={digits}\n"
            digit, wait = "", next_timeout


async def h_get_option(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) < 4 or len(argv) > 5:
        return None
    escape = argv[3]
    result = await stream(state, argv[2], escape)
    if result is None:
        state.fail()
        return "200 result=-1 endpos=0\n"
    code, endpos = result
    if code == 0:
        timeout = _int(argv[4]) / 1000 if len(argv) == 5 else 5.0
        with state.pbx.listening(state.ch):
            digit = await state.pbx.next_digit(state.ch, timeout)
        if digit is None:
            code = -1
        elif digit and digit in escape:
            code = ord(digit)
    return f"200 result={code} endpos={endpos}\n"


async def h_get_full_variable(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) not in (4, 5):
        return None
    ch = state.ch
    if len(argv) == 5:
        other = state.pbx.find_channel(argv[4])
        if other is None:
            return "200 result=0\n"
        ch = other
    return f"200 result=1 ({state.pbx.substitute(ch, argv[3])})\n"


async def h_get_variable(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) != 3:
        return None
    value = state.pbx.resolve(state.ch, argv[2])
    return "200 result=0\n" if value is None else f"200 result=1 ({value})\n"


async def h_hangup(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) > 2:
        return None
    target = state.ch if len(argv) == 1 else state.pbx.find_channel(argv[1])
    if target is None:
        return "200 result=-1\n"
    state.pbx.request_hangup(target, target.hangupcause or CAUSE_NORMAL_CLEARING)
    return "200 result=1\n"


async def h_noop(state: AgiSessionState, argv: list[str]) -> str | None:
    return "200 result=0\n"


async def h_say_digits(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) != 4 or not argv[2].lstrip("-").isdigit():
        return None
    return await _say(state, [f"digits/{c}" for c in argv[2] if c.isdigit()], argv[3])


async def h_say_number(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) not in (4, 5) or not argv[2].lstrip("-").isdigit():
        return None
    return await _say(state, [f"digits/{c}" for c in argv[2] if c.isdigit()], argv[3])


async def h_say_alpha(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) != 4:
        return None
    names = [f"digits/{c}" if c.isdigit() else f"letters/{c.lower()}" for c in argv[2] if c.isalnum()]
    return await _say(state, names, argv[3])


async def _say(state: AgiSessionState, names: Sequence[str], escape: str) -> str:
    for name in names:
        result = await stream(state, name, escape)
        if result is None:
            continue
        if result[0] != 0:
            return f"200 result={result[0]}\n"
    return "200 result=0\n"


async def h_set_variable(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) >= 4:
        state.pbx.set_var(state.ch, argv[2], argv[3])
    return "200 result=1\n"


async def h_set_callerid(state: AgiSessionState, argv: list[str]) -> str | None:
    from sim.functions import write_function

    if len(argv) >= 3:
        write_function(state.pbx, state.ch, "CALLERID", "all", argv[2])
    return "200 result=1\n"


async def h_set_context(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) != 3:
        return None
    state.ch.context = argv[2]
    return "200 result=0\n"


async def h_set_extension(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) != 3:
        return None
    state.ch.exten = argv[2]
    return "200 result=0\n"


async def h_set_priority(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) != 3:
        return None
    ch = state.ch
    priority = int(argv[2]) if argv[2].isdigit() else state.pbx.dialplan.label(ch.context, ch.exten, argv[2])
    if priority is None or priority < 1:
        return None
    ch.priority = priority - 1  # the PBX loop adds one when the AGI returns
    return "200 result=0\n"


async def h_set_music(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) < 3:
        return None
    ch = state.ch
    if argv[2].lower() == "on":
        moh_class = argv[3] if len(argv) > 3 else "default"
        state.pbx.emit("MusicOnHoldStart", "call,all", [*ch.std_fields(), ("Class", moh_class)])
        state.pbx.start_media(ch)
    else:
        state.pbx.emit("MusicOnHoldStop", "call,all", ch.std_fields())
    return "200 result=0\n"


async def h_stream_file(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) < 4 or len(argv) > 5:
        return None
    offset = _int(argv[4]) if len(argv) == 5 else 0
    result = await stream(state, argv[2], argv[3], offset)
    if result is None:
        state.fail()
        return f"200 result=-1 endpos={offset}\n"
    return f"200 result={result[0]} endpos={result[1]}\n"


async def h_verbose(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) < 2:
        return None
    return "200 result=1\n"


async def h_wait_for_digit(state: AgiSessionState, argv: list[str]) -> str | None:
    if len(argv) != 4:
        return None
    try:
        timeout_ms = int(argv[3])
    except ValueError:
        return None
    with state.pbx.listening(state.ch):
        digit = await state.pbx.next_digit(state.ch, None if timeout_ms < 0 else timeout_ms / 1000)
    if digit is None:
        return "200 result=-1\n"
    return f"200 result={ord(digit) if digit else 0}\n"


async def h_database(state: AgiSessionState, argv: list[str]) -> str | None:
    verb = argv[1].lower()
    db = state.pbx.astdb
    if verb == "get" and len(argv) == 4:
        value = db.get(f"{argv[2]}/{argv[3]}")
        return "200 result=0\n" if value is None else f"200 result=1 ({value})\n"
    if verb == "put" and len(argv) == 5:
        db[f"{argv[2]}/{argv[3]}"] = argv[4]
        return "200 result=1\n"
    if verb == "del" and len(argv) == 4:
        return "200 result=1\n" if db.pop(f"{argv[2]}/{argv[3]}", None) is not None else "200 result=0\n"
    if verb == "deltree" and len(argv) in (3, 4):
        prefix = f"{argv[2]}/" + (f"{argv[3]}/" if len(argv) == 4 else "")
        for key in [k for k in db if k.startswith(prefix)]:
            del db[key]
        return "200 result=1\n"
    return None


async def h_ok_zero(state: AgiSessionState, argv: list[str]) -> str | None:
    return "200 result=0\n"


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


# The usage of GET DATA is the one the golden capture shows; the others follow Asterisk's XML documentation.
_USAGE = {
    "get data": "Stream the given <replaceable>file</replaceable>, and receive DTMF data.\n"
                "Returns the digits received from the channel at the other end.\n",
    "stream file": "Send the given file, allowing playback to be interrupted by the given digits, if any.\n",
    "wait for digit": "Waits up to <replaceable>timeout</replaceable> milliseconds for channel to receive a "
                      "DTMF digit.\n",
    "record file": "Record to a file until a given dtmf digit in the sequence is received.\n",
    "say digits": "Say a given digit string, returning early if any of the given DTMF digits are received on "
                  "the channel.\n",
    "get variable": "Returns <literal>0</literal> if <replaceable>variablename</replaceable> is not set.\n",
}


def _cmd(words: str, handler: Handler, dead_ok: bool) -> Command:
    return Command(tuple(words.split()), handler, dead_ok, _USAGE.get(words, ""))


COMMANDS: tuple[Command, ...] = (
    _cmd("answer", h_answer, False),
    _cmd("asyncagi break", h_ok_zero, True),
    _cmd("channel status", h_channel_status, False),
    _cmd("control stream file", h_stream_file, False),
    _cmd("database del", h_database, True),
    _cmd("database deltree", h_database, True),
    _cmd("database get", h_database, True),
    _cmd("database put", h_database, True),
    _cmd("exec", h_exec, True),
    _cmd("get data", h_get_data, False),
    _cmd("get full variable", h_get_full_variable, True),
    _cmd("get option", h_get_option, False),
    _cmd("get variable", h_get_variable, True),
    _cmd("hangup", h_hangup, False),
    _cmd("noop", h_noop, True),
    _cmd("receive char", h_ok_zero, False),
    _cmd("record file", handle_record_file, False),
    _cmd("say alpha", h_say_alpha, False),
    _cmd("say digits", h_say_digits, False),
    _cmd("say number", h_say_number, False),
    _cmd("send image", h_ok_zero, False),
    _cmd("send text", h_ok_zero, False),
    _cmd("set autohangup", h_ok_zero, False),
    _cmd("set callerid", h_set_callerid, False),
    _cmd("set context", h_set_context, False),
    _cmd("set extension", h_set_extension, False),
    _cmd("set music", h_set_music, False),
    _cmd("set priority", h_set_priority, False),
    _cmd("set variable", h_set_variable, True),
    _cmd("stream file", h_stream_file, False),
    _cmd("tdd mode", h_ok_zero, False),
    _cmd("verbose", h_verbose, True),
    _cmd("wait for digit", h_wait_for_digit, False),
)


def find_command(argv: Sequence[str]) -> Command | None:
    """res_agi's find_command: every word of the command must match the first words of the line."""
    lowered = [a.lower() for a in argv]
    for command in COMMANDS:
        n = len(command.words)
        if len(lowered) >= n and tuple(lowered[:n]) == command.words:
            return command
    return None


def usage_block(command: Command) -> str:
    """The 520 reply for bad syntax."""
    if not command.usage:
        return "520 Invalid command syntax.  Proper usage not available.\n"
    return f"520-Invalid command syntax.  Proper usage follows:\n{command.usage}520 End of proper usage.\n"
