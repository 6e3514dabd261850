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
from ivr.flows.model import (
    AskNode,
    CallbackNode,
    CollectNode,
    ConditionNode,
    Flow,
    GotoNode,
    HangupNode,
    MenuNode,
    PlayNode,
    QueueNode,
    ReturnNode,
    ScriptNode,
    SetNode,
    SubflowNode,
    TransferNode,
)
from ivr.flows.registry import FlowSet
from ivr.ports import CallbackPort, CallQueue, CallRecordSink
from ivr.runtime import texts
from ivr.runtime.channel import CallChannel, PromptResolver
from ivr.runtime.conditions import VipDirectory, evaluate
from ivr.runtime.handoff import Handoff, HandoffConfig, HandoffError
from ivr.runtime.interact import Choice, Interaction, Question, Say
from ivr.runtime.listen import ListenConfig, Listener, SpeechPort
from ivr.runtime.record import IvrPath, Outcome
from ivr.runtime.region import RegionMap, normalise_number
from ivr.runtime.selfservice import MemorySelfServiceStore, SelfService
from ivr.runtime.state import MAX_CALLER_NAME, MAX_CALLER_NUMBER, CallState, capped
from switchboard.clock import Clock

log = logging.getLogger(__name__)


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


# called with (call_id, flow, node) as each node starts: tracing, metrics, tests
NodeObserver = Callable[[str, str, str], None]


class FlowError(Exception):
    """The flow cannot go on (missing node or sub-flow, endless loop)."""


@dataclass(frozen=True)
class _Goto:
    node: str


@dataclass(frozen=True)
class _Sub:
    flow: str
    back: str | None


@dataclass(frozen=True)
class _Return:
    pass


@dataclass(frozen=True)
class _End:
    outcome: Outcome
    detail: str


@dataclass(frozen=True)
class _DefaultQueue:
    reason: str


_Next = _Goto | _Sub | _Return | _End | _DefaultQueue


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
        self._vips: dict[tuple[str, str], VipDirectory] = {}

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
        state.region = self.regions.region_for(number)
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
                state.finish(Outcome.ERROR, f"connection to Asterisk lost at {self._where(state)}: {exc}")
                log.warning(
                    "ivr connection lost call_id=%s at=%s error=%s", state.call_id, self._where(state), exc
                )
            except Exception as exc:
                log.exception("ivr flow failed call_id=%s at=%s", state.call_id, self._where(state))
                await self._fallback(channel, state, f"{type(exc).__name__} at {self._where(state)}: {exc}")
        except asyncio.CancelledError:
            state.finish(Outcome.ERROR, f"cancelled at {self._where(state)}")
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
        where = self._where(state)
        if state.resolved_by is not None:
            # the caller said the fix worked and hung up during the goodbye: still a deflection
            state.finish(Outcome.RESOLVED, f"resolved by {state.resolved_by}; caller hung up at {where}")
        else:
            state.finish(Outcome.ABANDONED, f"caller hung up at {where}")

    @staticmethod
    def _where(state: CallState) -> str:
        return f"{state.flow_name or '-'}:{state.node or '-'}"

    async def _record(self, method: str, value: object) -> None:
        if self.recorder is None:
            return
        try:
            await asyncio.wait_for(getattr(self.recorder, method)(value), self.config.record_timeout)
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
            if self.observer is not None:
                self.observer(state.call_id, current.name, node_id)
            nxt = await self._exec(channel, state, node_id, node)
            if isinstance(nxt, _End):
                state.finish(nxt.outcome, nxt.detail)
                return
            if channel.hung_up:
                raise AgiHangup("caller hung up")
            if isinstance(nxt, _Goto):
                node_id = nxt.node
            elif isinstance(nxt, _Sub):
                sub = state.flows.get(nxt.flow)
                if sub is None:
                    raise FlowError(f"sub-flow '{nxt.flow}' is not loaded")
                if len(stack) >= 8:
                    raise FlowError("sub-flows nested more than 8 deep")
                stack.append((current, nxt.back))
                state.flow = sub
                node_id = sub.spec.start
            elif isinstance(nxt, _Return):
                if not stack:
                    self._end(state, None)
                    return
                state.flow, back = stack.pop()
                if back is None:
                    self._end(state, None)
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

    def _end(self, state: CallState, outcome: str | None) -> None:
        if outcome == "resolved" or (outcome is None and state.resolved_by is not None):
            state.finish(Outcome.RESOLVED, f"resolved by {state.resolved_by or state.node}")
        else:
            state.finish(Outcome.ENDED, f"flow ended at {self._where(state)}")

    async def _exec(self, channel: CallChannel, state: CallState, node_id: str, node: object) -> _Next:
        flow = state.flow
        assert flow is not None
        spec = flow.spec
        begun = self.io.begin()
        if isinstance(node, PlayNode):
            for key in node.prompts:
                await self.io.play(channel, state, key)
            self.io.step(state, begun, node_id, "play", result=node.next)
            return _Goto(node.next)
        if isinstance(node, MenuNode):
            return await self._menu(channel, state, node_id, node)
        if isinstance(node, CollectNode):
            got = await self.io.collect(channel, state, node_id, node, spec.defaults)
            if got is not None:
                return _Goto(node.next)
            return _Goto(node.on_fail) if node.on_fail else _DefaultQueue(f"collect-failed:{node_id}")
        if isinstance(node, AskNode):
            intent = await self.io.ask_free(channel, state, node_id, node, spec.defaults)
            if intent is None:
                return _Goto(node.fallback)
            state.apply(intent.set)
            return _Goto(intent.next)
        if isinstance(node, ScriptNode):
            return await self._script(channel, state, node_id, node)
        if isinstance(node, ConditionNode):
            result = evaluate(
                node.if_,
                spec=spec,
                now=self.clock.now(),
                caller_e164=state.caller_e164,
                variables=state.lookup,
                vips=self._vip_directory(flow),
            )
            target = node.then if result else node.else_
            self.io.step(state, begun, node_id, "condition", result=f"{str(result).lower()}:{target}")
            return _Goto(target)
        if isinstance(node, SetNode):
            state.apply(node.values)
            self.io.step(state, begun, node_id, "set", input=",".join(node.values), result=node.next)
            return _Goto(node.next)
        if isinstance(node, QueueNode):
            await self.io.play(channel, state, node.prompt)
            reason = node.reason or f"{flow.name}:{node_id}"
            await self.handoff.to_queue(
                channel,
                state,
                queue=node.queue or spec.defaults.queue,
                skill=node.skill,
                priority=node.priority,
                reason=reason,
            )
            self.io.step(state, begun, node_id, "queue", result=f"queued:{state.queue}")
            return _End(Outcome.QUEUED, reason)
        if isinstance(node, TransferNode):
            return await self._transfer(channel, state, node_id, node)
        if isinstance(node, CallbackNode):
            return await self._callback(channel, state, node_id, node)
        if isinstance(node, HangupNode):
            await self.io.play(channel, state, node.prompt)
            self.io.step(state, begun, node_id, "hangup")
            self._end(state, node.outcome)
            await channel.hangup()
            return _End(state.outcome or Outcome.ENDED, state.detail)
        if isinstance(node, GotoNode):
            self.io.step(state, begun, node_id, "goto", result=node.target)
            return _Goto(node.target)
        if isinstance(node, SubflowNode):
            self.io.step(state, begun, node_id, "subflow", result=f"flow:{node.flow}")
            return _Sub(node.flow, node.next)
        if isinstance(node, ReturnNode):
            self.io.step(state, begun, node_id, "return")
            return _Return()
        raise FlowError(f"node '{node_id}' has an unsupported kind")

    def _vip_directory(self, flow: Flow) -> VipDirectory:
        key = (flow.name, flow.version)
        directory = self._vips.get(key)
        if directory is None:
            directory = VipDirectory(flow.spec.vip_lists, self.config.default_country)
            self._vips = {k: v for k, v in self._vips.items() if k[0] != flow.name} | {key: directory}
        return directory

    # ---- interactive nodes -----------------------------------------------------------------------------
    def _question(
        self,
        state: CallState,
        node: MenuNode | ScriptNode,
        prompt: str,
        keypad_prompt: str | None = None,
        speech: bool | None = None,
    ) -> Question:
        assert state.flow is not None
        d = state.flow.spec.defaults
        return Question(
            prompt=prompt, keypad_prompt=keypad_prompt or d.keypad_prompt,
            invalid_prompt=node.invalid_prompt or d.invalid_prompt,
            timeout_prompt=node.timeout_prompt or d.timeout_prompt, reprompt=d.reprompt,
            timeout_ms=node.timeout_ms or d.timeout_ms, listen_ms=d.listen_ms,
            retries=node.retries if node.retries is not None else d.retries,
            min_confidence=d.min_confidence, speech=d.speech if speech is None else speech,
        )  # fmt: skip

    async def _menu(self, channel: CallChannel, state: CallState, node_id: str, node: MenuNode) -> _Next:
        choices = [
            Choice(str(i), o.dtmf, tuple(o.say), o.label or o.dtmf or o.say[0])
            for i, o in enumerate(node.options)
        ]
        q = self._question(state, node, node.prompt, node.keypad_prompt, node.speech)
        chosen = await self.io.choose(channel, state, node_id, "menu", choices, q)
        if chosen is None:
            return _Goto(node.on_fail) if node.on_fail else _DefaultQueue(f"menu-failed:{node_id}")
        option = node.options[int(chosen.key)]
        state.apply(option.set)
        return _Goto(option.next)

    async def _script(self, channel: CallChannel, state: CallState, node_id: str, node: ScriptNode) -> _Next:
        script = node.script or node_id
        now = self.clock.now()
        begun = self.io.begin()
        if await self.selfservice.is_repeat(script, state.caller_e164, now, state.call_id):
            state.repeat_caller = True
            state.priority = min(100, state.priority + node.repeat_priority_bump)
            target = node.repeat or node.unresolved
            self.io.step(
                state,
                begun,
                node_id,
                "script",
                input="repeat-caller",
                result=f"skipped:+{node.repeat_priority_bump}:{target}",
            )
            log.info(
                "repeat caller skips script call_id=%s script=%s priority=%d",
                state.call_id,
                script,
                state.priority,
            )
            return _Goto(target)
        await self.selfservice.started(script, state.call_id, state.caller_e164, now)
        choices = [
            Choice("yes", node.yes_dtmf, tuple(node.yes_say)),
            Choice("no", node.no_dtmf, tuple(node.no_say)),
        ]
        for i, step in enumerate(node.steps, start=1):
            begun = self.io.begin()
            pressed = await self.io.play(channel, state, step.prompt, node.yes_dtmf + node.no_dtmf)
            self.io.step(
                state, begun, f"{node_id}#{i}", "script-step", input=f"dtmf:{pressed}" if pressed else None
            )
            if pressed == node.yes_dtmf:
                answer: Choice | None = choices[0]
            elif pressed == node.no_dtmf:
                answer = choices[1]
            else:
                q = self._question(state, node, step.check)
                answer = await self.io.choose(channel, state, f"{node_id}#{i}", "script-check", choices, q)
            if answer is not None and answer.key == "yes":
                state.resolved_by = script
                await self.selfservice.resolved(script, state.call_id, self.clock.now())
                log.info("self-service resolved call_id=%s script=%s step=%d", state.call_id, script, i)
                return _Goto(node.resolved)
        return _Goto(node.unresolved)

    async def _transfer(
        self, channel: CallChannel, state: CallState, node_id: str, node: TransferNode
    ) -> _Next:
        begun = self.io.begin()
        await self.io.play(channel, state, node.prompt)
        status = await self.handoff.transfer(channel, state, node.to, node.timeout_s)
        self.io.step(state, begun, node_id, "transfer", input=node.to, result=status.lower())
        if status == "ANSWER":
            return _End(Outcome.TRANSFERRED, f"transferred to {node.to}")
        if node.on_fail:
            return _Goto(node.on_fail)
        return _DefaultQueue(f"transfer-failed:{node_id}:{status.lower()}")

    async def _callback(
        self, channel: CallChannel, state: CallState, node_id: str, node: CallbackNode
    ) -> _Next:
        if channel.hung_up:  # nothing below talks to the channel before the request is placed
            raise AgiHangup("caller hung up before the callback request")
        begun = self.io.begin()
        number = state.variables.get(node.number_var, "") if node.number_var else state.caller_number
        try:
            request = await self.handoff.callback(
                channel, state, number_raw=number, queue=node.queue, reason=f"{state.flow_name}:{node_id}"
            )
        except HandoffError as exc:
            log.warning("callback failed call_id=%s error=%s", state.call_id, exc)
            request = None
        self.io.step(state, begun, node_id, "callback", result="requested" if request else "failed")
        if request is None:
            return _Goto(node.on_fail) if node.on_fail else _DefaultQueue(f"callback-failed:{node_id}")
        state.finish(Outcome.CALLBACK, f"callback to {request.queue}")  # a hang-up during the thanks is fine
        await self.io.play(channel, state, node.prompt)
        await channel.hangup()
        return _End(Outcome.CALLBACK, f"callback to {request.queue}")
