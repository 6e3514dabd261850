"""FlowRunner: runs one flow per call on a CallChannel and closes its IVR record, whatever happens.

Guarantees: a caller hang-up at any node ends the run as *abandoned* with no exception escaping; any other
failure (a bug, the ACD refusing, a missing sub-flow) plays an apology and hands the call to the default
queue, so a caller is never dropped by a bug; the record (path and outcome) is always written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from ivr.fastagi.errors import AgiHangup, AgiProtocolError, AgiTimeout
from ivr.flows.model import Flow
from ivr.flows.registry import FlowSet
from ivr.ports import CallbackPort, CallQueue, CallRecordSink
from ivr.runtime import texts
from ivr.runtime.channel import CallChannel, PromptResolver
from ivr.runtime.execute import (
    End,
    EnterSubflow,
    FlowError,
    Goto,
    NodeExecutor,
    Return,
    end_call,
    where,
)
from ivr.runtime.handoff import Handoff, HandoffConfig
from ivr.runtime.interact import Interaction, Say
from ivr.runtime.listen import ListenConfig, Listener, SpeechPort
from ivr.runtime.record import IvrPath, Outcome
from ivr.runtime.region import RegionMap, normalise_number
from ivr.runtime.selfservice import MemorySelfServiceStore, SelfService
from ivr.runtime.state import MAX_CALLER_NAME, MAX_CALLER_NUMBER, CallState, capped
from switchboard.clock import Clock
from switchboard.settings import IvrSettings, SpeechSettings

__all__ = ["FlowError", "FlowRunner", "NodeObserver", "RunnerConfig"]

log = logging.getLogger(__name__)

# called with (call_id, flow, node) as each node starts: tracing, metrics, tests
NodeObserver = Callable[[str, str, str], None]


@dataclass(frozen=True)
class RunnerConfig:
    """Site values the runtime needs (built from settings by the composition root)."""

    default_queue: str = "support"
    default_skill: str = "general"
    default_country: str = "US"
    spool_dir: Path = Path("var/spool")
    asterisk_spool_dir: str = "/var/spool/asterisk/tmp"
    speech_deadline: float = 0.8
    repeat_window: timedelta = timedelta(hours=24)
    region_map: dict[str, str] = field(default_factory=dict)
    max_steps: int = 300
    record_timeout: float = 2.0

    @classmethod
    def from_settings(cls, ivr: IvrSettings, speech: SpeechSettings) -> RunnerConfig:
        """The runtime's values from the ``ivr`` and ``speech`` settings sections."""
        return cls(
            default_queue=ivr.default_queue,
            default_skill=ivr.default_skill,
            default_country=ivr.default_country,
            spool_dir=ivr.spool_dir,
            asterisk_spool_dir=ivr.asterisk_spool_dir,
            speech_deadline=speech.deadline,
            repeat_window=timedelta(hours=ivr.repeat_window_hours),
            region_map=dict(ivr.region_map),
        )


class FlowRunner:
    """Runs flows on calls. One instance serves every call; per-call state lives in ``CallState``."""

    def __init__(
        self,
        *,
        clock: Clock,
        call_queue: CallQueue,
        prompts: PromptResolver,
        config: RunnerConfig | None = None,
        speech: SpeechPort | None = None,
        selfservice: SelfService | None = None,
        recorder: CallRecordSink | None = None,
        callbacks: CallbackPort | None = None,
        observer: NodeObserver | None = None,
    ) -> None:
        self.clock = clock
        self.config = config or RunnerConfig()
        cfg = self.config
        self.listener = Listener(speech, clock, ListenConfig(
            spool_dir=cfg.spool_dir, asterisk_spool_dir=cfg.asterisk_spool_dir,
            deadline=min(cfg.speech_deadline, 0.85),
        ))  # fmt: skip
        self.io = Interaction(prompts, self.listener, clock)
        handoff_config = HandoffConfig(
            default_queue=cfg.default_queue,
            default_skill=cfg.default_skill,
            default_country=cfg.default_country,
        )
        self.handoff = Handoff(call_queue, handoff_config, clock, callbacks)
        self.selfservice = selfservice or SelfService(
            MemorySelfServiceStore(), repeat_window=cfg.repeat_window
        )
        self.recorder = recorder
        self.observer = observer
        self.regions = RegionMap(cfg.region_map, cfg.default_country)
        self.nodes = NodeExecutor(
            clock=clock,
            io=self.io,
            handoff=self.handoff,
            selfservice=self.selfservice,
            default_country=cfg.default_country,
        )

    # ---- one call --------------------------------------------------------------------------------------
    async def run(self, channel: CallChannel, flows: FlowSet, flow_name: str) -> IvrPath:
        """Run ``flow_name`` from ``flows`` (a registry snapshot) on the call; always returns its record."""
        env = channel.env
        number = capped(env.callerid, MAX_CALLER_NUMBER)
        flow = flows.get(flow_name)
        state = CallState(
            call_id=channel.call_id, uniqueid=capped(env.uniqueid, 64), channel=capped(env.channel, 128),
            caller_number=number, caller_name=capped(env.calleridname, MAX_CALLER_NAME),
            caller_e164=normalise_number(number, self.config.default_country), flows=flows, flow=flow,
            started=self.clock.now(), started_mono=self.clock.monotonic(),
        )  # fmt: skip
        state.region = self.regions.region_for_e164(state.caller_e164)
        if flow is not None:
            state.language = flow.spec.language
            state.priority = flow.spec.defaults.priority
        start = state.start_record()
        await self._record("call_started", start)
        log.info(
            "ivr call started call_id=%s flow=%s version=%s uniqueid=%s region=%s",
            state.call_id,
            flow_name,
            flow.version if flow else "-",
            state.uniqueid,
            state.region,
        )
        try:
            try:
                await channel.answer()
                if flow is None:
                    raise FlowError(f"no flow named '{flow_name}' is loaded")
                await self._run_flow(channel, state, flow)
            except AgiHangup:
                self._hung_up(state)
            except (AgiProtocolError, AgiTimeout) as exc:
                state.finish(Outcome.ERROR, f"connection to Asterisk lost at {where(state)}: {exc}")
                log.warning("ivr connection lost call_id=%s at=%s error=%s", state.call_id, where(state), exc)
            except Exception as exc:
                log.exception("ivr flow failed call_id=%s at=%s", state.call_id, where(state))
                await self._fallback(channel, state, f"{type(exc).__name__} at {where(state)}: {exc}")
        except asyncio.CancelledError:
            state.finish(Outcome.ERROR, f"cancelled at {where(state)}")
            raise
        finally:
            path = state.to_path(start, self.clock.now())
            log.info(
                "ivr call ended call_id=%s flow=%s outcome=%s detail=%s steps=%d",
                state.call_id,
                state.flow_name,
                path.outcome.value,
                path.detail,
                len(path.steps),
            )
            await self._record("call_finished", path)
        return path

    def _hung_up(self, state: CallState) -> None:
        at = where(state)
        if state.node is not None and state.node_begun is not None:
            # the path ends where the caller gave up (and how long they listened there)
            self.io.step(state, state.node_begun, state.node, state.node_kind, input="hangup",
                         result="resolved" if state.resolved_by else "abandoned")  # fmt: skip
        if state.resolved_by is not None:
            # the caller said the fix worked and hung up during the goodbye: still a deflection
            state.finish(Outcome.RESOLVED, f"resolved by {state.resolved_by}; caller hung up at {at}")
        else:
            state.finish(Outcome.ABANDONED, f"caller hung up at {at}")

    async def _record(self, method: str, value: object) -> None:
        if self.recorder is None:
            return
        try:
            async with asyncio.timeout(self.config.record_timeout):  # no extra task per call, unlike wait_for
                await getattr(self.recorder, method)(value)
        except Exception as exc:
            log.error("ivr record write failed method=%s error=%r", method, exc)

    async def _fallback(self, channel: CallChannel, state: CallState, detail: str) -> None:
        """Apology, then the default queue; never raises."""
        state.finish(Outcome.ERROR, detail)
        apology = state.flow.spec.apology if state.flow is not None else None
        try:
            await self.io.say(channel, state, Say(key=apology) if apology else Say(text=texts.APOLOGY))
        except AgiHangup:
            state.detail = f"{detail}; caller hung up during the apology"[:256]
            return
        except Exception as exc:
            log.error("ivr apology failed call_id=%s error=%r", state.call_id, exc)
        try:
            await self.handoff.to_queue(
                channel,
                state,
                queue=self.config.default_queue,
                skill=None,
                priority=None,
                reason="error-fallback",
            )
        except AgiHangup:
            state.detail = f"{detail}; caller hung up before the hand-off"[:256]
        except Exception as exc:
            # when only the ACD failed, SB_QUEUE is set and the dialplan still parks the caller in hold
            log.error("ivr fallback hand-off failed call_id=%s error=%r", state.call_id, exc)

    # ---- the node loop ---------------------------------------------------------------------------------
    async def _run_flow(self, channel: CallChannel, state: CallState, flow: Flow) -> None:
        stack: list[tuple[Flow, str | None]] = []
        node_id = flow.spec.start
        for _ in range(self.config.max_steps):
            current = state.flow
            assert current is not None
            node = current.spec.nodes.get(node_id)
            if node is None:
                raise FlowError(f"flow '{current.name}' has no node '{node_id}'")
            state.node = node_id
            state.node_kind = str(getattr(node, "kind", ""))
            state.node_begun = self.io.begin()
            if self.observer is not None:
                self.observer(state.call_id, current.name, node_id)
            nxt = await self.nodes.run_node(channel, state, node_id, node)
            if isinstance(nxt, End):
                state.finish(nxt.outcome, nxt.detail)
                return
            if channel.hung_up:
                raise AgiHangup("caller hung up")
            if isinstance(nxt, Goto):
                node_id = nxt.node
            elif isinstance(nxt, EnterSubflow):
                sub = state.flows.get(nxt.flow)
                if sub is None:
                    raise FlowError(f"sub-flow '{nxt.flow}' is not loaded")
                if len(stack) >= 8:
                    raise FlowError("sub-flows nested more than 8 deep")
                stack.append((current, nxt.back))
                state.flow = sub
                node_id = sub.spec.start
            elif isinstance(nxt, Return):
                if not stack:
                    end_call(state, None)
                    return
                state.flow, back = stack.pop()
                if back is None:
                    end_call(state, None)
                    return
                node_id = back
            else:
                await self.handoff.to_queue(
                    channel,
                    state,
                    queue=self.config.default_queue,
                    skill=None,
                    priority=None,
                    reason=nxt.reason,
                )
                state.finish(Outcome.QUEUED, nxt.reason)
                return
        raise FlowError(f"flow ran {self.config.max_steps} nodes without ending (a loop?)")
