"""Running one node of a flow: what it plays and asks, what it decides, and where the call goes next."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ivr.fastagi.errors import AgiHangup
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
from ivr.runtime.channel import CallChannel
from ivr.runtime.conditions import VipDirectory, evaluate
from ivr.runtime.handoff import Handoff, HandoffError
from ivr.runtime.interact import Choice, Interaction, Question
from ivr.runtime.record import Outcome
from ivr.runtime.selfservice import SelfService
from ivr.runtime.state import CallState
from switchboard.clock import Clock

log = logging.getLogger(__name__)


class FlowError(Exception):
    """The flow cannot go on (missing node or sub-flow, endless loop)."""


@dataclass(frozen=True)
class Goto:
    """Continue at a node of the current flow."""

    node: str


@dataclass(frozen=True)
class EnterSubflow:
    """Run another flow; its ``return`` comes back to ``back`` (None: the call ends)."""

    flow: str
    back: str | None


@dataclass(frozen=True)
class Return:
    """Leave the current sub-flow."""


@dataclass(frozen=True)
class End:
    """The IVR is over for this call."""

    outcome: Outcome
    detail: str


@dataclass(frozen=True)
class ToDefaultQueue:
    """Give up on the flow's own routing: hand the call to the site's default queue."""

    reason: str


Next = Goto | EnterSubflow | Return | End | ToDefaultQueue


def where(state: CallState) -> str:
    """``flow:node`` the call is at, for records and logs."""
    return f"{state.flow_name or '-'}:{state.node or '-'}"


def end_call(state: CallState, outcome: str | None) -> None:
    """Close a call the flow ended itself: resolved after a self-service 'yes' (or when the flow says so)."""
    if outcome == "resolved" or (outcome is None and state.resolved_by is not None):
        state.finish(Outcome.RESOLVED, f"resolved by {state.resolved_by or state.node}")
    else:
        state.finish(Outcome.ENDED, f"flow ended at {where(state)}")


class NodeExecutor:
    """Runs nodes; one instance serves every call."""

    def __init__(
        self,
        *,
        clock: Clock,
        io: Interaction,
        handoff: Handoff,
        selfservice: SelfService,
        default_country: str,
    ) -> None:
        self.clock = clock
        self.io = io
        self.handoff = handoff
        self.selfservice = selfservice
        self.default_country = default_country
        self._vips: dict[tuple[str, str], VipDirectory] = {}

    async def run_node(self, channel: CallChannel, state: CallState, node_id: str, node: object) -> Next:
        """Run one node; return where the call goes next."""
        flow = state.flow
        assert flow is not None
        spec = flow.spec
        begun = self.io.begin()
        if isinstance(node, PlayNode):
            for key in node.prompts:
                await self.io.play(channel, state, key)
            self.io.step(state, begun, node_id, "play", result=node.next)
            return Goto(node.next)
        if isinstance(node, MenuNode):
            return await self._menu(channel, state, node_id, node)
        if isinstance(node, CollectNode):
            got = await self.io.collect(channel, state, node_id, node, spec.defaults)
            if got is not None:
                return Goto(node.next)
            return Goto(node.on_fail) if node.on_fail else ToDefaultQueue(f"collect-failed:{node_id}")
        if isinstance(node, AskNode):
            intent = await self.io.ask_free(channel, state, node_id, node, spec.defaults)
            if intent is None:
                return Goto(node.fallback)
            state.apply(intent.set)
            return Goto(intent.next)
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
            return Goto(target)
        if isinstance(node, SetNode):
            state.apply(node.values)
            self.io.step(state, begun, node_id, "set", input=",".join(node.values), result=node.next)
            return Goto(node.next)
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
            return End(Outcome.QUEUED, reason)
        if isinstance(node, TransferNode):
            return await self._transfer(channel, state, node_id, node)
        if isinstance(node, CallbackNode):
            return await self._callback(channel, state, node_id, node)
        if isinstance(node, HangupNode):
            await self.io.play(channel, state, node.prompt)
            self.io.step(state, begun, node_id, "hangup")
            end_call(state, node.outcome)
            await channel.hangup()
            return End(state.outcome or Outcome.ENDED, state.detail)
        if isinstance(node, GotoNode):
            self.io.step(state, begun, node_id, "goto", result=node.target)
            return Goto(node.target)
        if isinstance(node, SubflowNode):
            self.io.step(state, begun, node_id, "subflow", result=f"flow:{node.flow}")
            return EnterSubflow(node.flow, node.next)
        if isinstance(node, ReturnNode):
            self.io.step(state, begun, node_id, "return")
            return Return()
        raise FlowError(f"node '{node_id}' has an unsupported kind")

    def _vip_directory(self, flow: Flow) -> VipDirectory:
        key = (flow.name, flow.version)
        directory = self._vips.get(key)
        if directory is None:
            directory = VipDirectory(flow.spec.vip_lists, self.default_country)
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

    async def _menu(self, channel: CallChannel, state: CallState, node_id: str, node: MenuNode) -> Next:
        choices = [
            Choice(str(i), o.dtmf, tuple(o.say), o.label or o.dtmf or o.say[0])
            for i, o in enumerate(node.options)
        ]
        q = self._question(state, node, node.prompt, node.keypad_prompt, node.speech)
        chosen = await self.io.choose(channel, state, node_id, "menu", choices, q)
        if chosen is None:
            return Goto(node.on_fail) if node.on_fail else ToDefaultQueue(f"menu-failed:{node_id}")
        option = node.options[int(chosen.key)]
        state.apply(option.set)
        return Goto(option.next)

    async def _script(self, channel: CallChannel, state: CallState, node_id: str, node: ScriptNode) -> Next:
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
            return Goto(target)
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
                await self.selfservice.resolved(script, state.call_id, state.caller_e164, self.clock.now())
                log.info("self-service resolved call_id=%s script=%s step=%d", state.call_id, script, i)
                return Goto(node.resolved)
        return Goto(node.unresolved)

    async def _transfer(
        self, channel: CallChannel, state: CallState, node_id: str, node: TransferNode
    ) -> Next:
        begun = self.io.begin()
        await self.io.play(channel, state, node.prompt)
        status = await self.handoff.transfer(channel, state, node.to, node.timeout_s)
        self.io.step(state, begun, node_id, "transfer", input=node.to, result=status.lower())
        if status == "ANSWER":
            return End(Outcome.TRANSFERRED, f"transferred to {node.to}")
        if node.on_fail:
            return Goto(node.on_fail)
        return ToDefaultQueue(f"transfer-failed:{node_id}:{status.lower()}")

    async def _callback(
        self, channel: CallChannel, state: CallState, node_id: str, node: CallbackNode
    ) -> Next:
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
            return Goto(node.on_fail) if node.on_fail else ToDefaultQueue(f"callback-failed:{node_id}")
        state.finish(Outcome.CALLBACK, f"callback to {request.queue}")  # a hang-up during the thanks is fine
        await self.io.play(channel, state, node.prompt)
        await channel.hangup()
        return End(Outcome.CALLBACK, f"callback to {request.queue}")
