"""``switchboard-agi``: the same flows under classic ``AGI()`` (stdin/stdout), for sites without FastAGI.

Asterisk starts this program once per call: ``AGI(switchboard-agi,<flow>)`` (no argument: the default
flow; an unknown one: the default flow, logged). pyst2's ``asterisk.agi.AGI`` object reads the environment,
catches the SIGHUP Asterisk sends on hang-up, and writes the commands; ``StdioAgiWire`` gives it the
narrow async interface of a FastAGI connection, running the blocking pipe I/O in a thread. Commands are
encoded and replies parsed by the FastAGI layer's own code (``ivr.fastagi.protocol``, checked against the
golden transcripts), and the per-call API is the same ``AgiSession`` the FastAGI server hands to flows,
so a flow cannot tell the two apart. pyst2's own reply reader is not used: it takes an asynchronous
``HANGUP`` line for a reply and raises on ``result=-1`` (a missing sound file).

Hand-off to the ACD: the flow sets the ``SB_*`` channel variables and returns, the dialplan moves the caller
to the hold context, and the ACD's hold route adopts the call from those variables (see ``DialplanQueue``).
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from ivr.fastagi.environment import AgiEnvironment, EnvironmentParser
from ivr.fastagi.errors import AgiError, AgiProtocolError, AgiTimeout
from ivr.fastagi.protocol import AgiReply, ReplyAssembler
from ivr.fastagi.session import AgiSession
from ivr.ports import QueueRequest
from switchboard.ids import new_id

if TYPE_CHECKING:
    from ivr.flows.registry import FlowSet

log = logging.getLogger(__name__)

MAX_ENV_BYTES = 65_536
MAX_REPLY_LINE = 65_536
MAX_UNSOLICITED = 20


class _EnvTap:
    """The stdin pyst2 reads: binary lines decoded leniently, the environment parsed strictly on the side.

    pyst2 strips values and lets a repeated key overwrite the first; the FastAGI parser refuses a repeated
    key (a caller ID with an embedded newline could otherwise smuggle ``agi_arg_1``), so the environment
    the flows see comes from the parser, and pyst2's copy is only its own.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.parser = EnvironmentParser(MAX_ENV_BYTES)
        self.error: AgiProtocolError | None = None

    def readline(self) -> str:
        line = self.raw.readline(MAX_REPLY_LINE)
        if not self.parser.done and self.error is None:
            try:
                self.parser.feed_line(line.rstrip(b"\n"))
            except AgiProtocolError as exc:
                self.error = exc
                return "\n"  # end pyst2's environment loop; the error is raised once it returns
        if not line:
            return ""  # EOF: pyst2's loop sees a blank line and stops
        return line.decode("utf-8", "replace")

    def read_bytes_line(self) -> bytes:
        return self.raw.readline(MAX_REPLY_LINE)


class _Quiet(io.TextIOBase):
    """pyst2 writes every line it sends and receives to stderr; Asterisk would show them on its console."""

    def write(self, text: str) -> int:
        log.debug("pyst2 %s", text.rstrip()[:200])
        return len(text)


class StdioAgiWire:
    """The ``AgiWire`` a session needs, over a pyst2 AGI object's pipes (blocking I/O in a thread)."""

    def __init__(self, agi: Any, tap: _EnvTap, *, command_timeout: float = 3600.0) -> None:
        self._agi = agi
        self._tap = tap
        self._timeout = command_timeout
        self._assembler = ReplyAssembler()
        self._hung_up = False
        self._closed = False
        self._lock = threading.Lock()

    @property
    def hung_up(self) -> bool:
        return self._hung_up or bool(getattr(self._agi, "_got_sighup", False))

    @property
    def closed(self) -> bool:
        return self._closed

    async def request(self, data: bytes) -> AgiReply:
        """Send one command line and wait for its complete reply."""
        if self._closed:
            raise AgiProtocolError("the AGI pipe to Asterisk is closed")
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._exchange, data), self._timeout)
        except TimeoutError:
            # the reader thread may still be waiting on stdin: the pipe cannot be trusted any more
            self._closed = True
            raise AgiTimeout(f"no AGI reply within {self._timeout:.0f} s") from None

    def _exchange(self, data: bytes) -> AgiReply:
        with self._lock:
            try:
                self._agi.send_command(data.decode("utf-8").rstrip("\n"))
            except (BrokenPipeError, ValueError, OSError) as exc:
                self._closed = True
                raise AgiProtocolError(f"cannot write to Asterisk: {exc}") from None
            unsolicited = 0
            while True:
                try:
                    raw = self._tap.read_bytes_line()
                except (OSError, ValueError) as exc:
                    self._closed = True
                    raise AgiProtocolError(f"cannot read from Asterisk: {exc}") from None
                if not raw:
                    self._closed = True
                    raise AgiProtocolError("Asterisk closed the AGI pipe")
                if not raw.endswith(b"\n") and len(raw) >= MAX_REPLY_LINE:
                    self._closed = True
                    raise AgiProtocolError("AGI reply line too long")
                line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
                if line == "HANGUP" and not self._assembler.in_block:
                    # Asterisk's hang-up notice may come before the reply to the command in flight
                    self._hung_up = True
                    unsolicited += 1
                    if unsolicited > MAX_UNSOLICITED:
                        self._closed = True
                        raise AgiProtocolError("too many unsolicited lines from Asterisk")
                    continue
                reply = self._assembler.feed(line)
                if reply is not None:
                    return reply


def open_session(
    stdin: BinaryIO | None = None, stdout: TextIO | None = None, *, command_timeout: float = 3600.0
) -> AgiSession:
    """Read the AGI environment from stdin (via pyst2) and return the call's session."""
    from asterisk.agi import AGI  # pyst2

    tap = _EnvTap(stdin if stdin is not None else sys.stdin.buffer)
    out = (
        stdout if stdout is not None else io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
    )
    argv, sys.argv = sys.argv, sys.argv[:1]  # pyst2 prints argv to stderr; keep it short
    try:
        agi = AGI(stdin=tap, stdout=out, stderr=_Quiet())
    finally:
        sys.argv = argv
    if tap.error is not None:
        raise tap.error
    if not tap.parser.done:
        raise AgiProtocolError("Asterisk closed the pipe before the end of the AGI environment")
    for warning in tap.parser.warnings:
        log.warning("agi environment: %s", warning)
    env = tap.parser.environment()
    return AgiSession(env, new_id(), StdioAgiWire(agi, tap, command_timeout=command_timeout))


class DialplanQueue:
    """The ACD hand-off for a process that lives for one call: the dialplan takes the caller to hold.

    The runtime has already set ``SB_CALL_ID``, ``SB_QUEUE``, ``SB_SKILL``, ``SB_REGION`` and
    ``SB_PRIORITY`` when this is called; the hold context's FastAGI route adopts the caller from them.
    """

    async def enqueue(self, request: QueueRequest) -> None:
        log.info(
            "call handed to the hold context call_id=%s queue=%s skill=%s priority=%d reason=%s",
            request.call_id, request.queue, request.skill, request.priority, request.reason,
        )  # fmt: skip


def flow_for(env: AgiEnvironment, flows: FlowSet, default_flow: str, call_id: str) -> str:
    """The flow named by the first AGI argument (``main`` or ``ivr/main``) when loaded, else the default."""
    from ivr.handler import choose_flow

    if not env.args or not env.args[0].strip():
        return default_flow
    return choose_flow(flows, env.args[0], default_flow, call_id)


CallRunner = Callable[[AgiSession], Awaitable[None]]


async def serve_call(session: AgiSession, run: CallRunner) -> int:
    """Run one call; AGI failures after hang-up are normal, anything else is logged. Returns an exit code."""
    try:
        await run(session)
    except AgiError as exc:
        log.info("agi call ended call_id=%s reason=%s", session.call_id, exc)
    except Exception:
        log.exception("agi call failed call_id=%s", session.call_id)
        return 1
    return 0


async def _run_flows(session: AgiSession) -> None:
    """Load settings, flows and speech as the controller does, and run the call's flow."""
    from ivr.flows.registry import FlowRegistry
    from ivr.runtime import FlowRunner, RenderedPrompts, RunnerConfig
    from ivr.speech.service import build_speech_service
    from switchboard.clock import SystemClock
    from switchboard.settings import load_settings

    settings = load_settings()
    registry = FlowRegistry(settings.ivr.flows_dir)
    for problem in registry.reload().problems:
        log.warning("flow problem %s", problem)
    # one call per process: one worker, started now so it is ready by the first question
    speech_settings = settings.speech.model_copy(update={"workers": 1, "max_waiting": 0})
    speech = build_speech_service(speech_settings) if settings.speech.engine != "none" else None
    runner = FlowRunner(
        clock=SystemClock(),
        call_queue=DialplanQueue(),
        prompts=RenderedPrompts(str(settings.ivr.sounds_dir.resolve())),
        config=RunnerConfig.from_settings(settings.ivr, settings.speech),
        speech=speech,
    )
    try:
        flows = registry.snapshot()
        name = flow_for(session.env, flows, settings.ivr.default_flow, session.call_id)
        await runner.run(session, flows, name)
    finally:
        if speech is not None:
            await speech.close()


def main(argv: list[str] | None = None) -> int:
    """Console script entry point: one call on stdin/stdout."""
    from switchboard.settings import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"switchboard-agi: error: {exc}", file=sys.stderr)
        return 2
    from switchboard.logging_setup import setup_logging

    setup_logging(settings)
    try:
        session = open_session(command_timeout=settings.agi.command_timeout)
    except AgiError as exc:
        log.error("agi environment refused error=%s", exc)
        return 1
    log.info(
        "agi call started call_id=%s channel=%s uniqueid=%s",
        session.call_id, session.env.channel[:80], session.env.uniqueid[:64],
    )  # fmt: skip
    return asyncio.run(serve_call(session, _run_flows))


if __name__ == "__main__":
    sys.exit(main())
