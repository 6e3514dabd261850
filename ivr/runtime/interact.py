"""Talking with the caller: prompts, choices by key or voice (with keypad fallback), digits, free speech."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from ivr.flows.model import AskNode, CollectNode, Defaults, Intent, PromptDef
from ivr.runtime import texts
from ivr.runtime.channel import CallChannel, PromptResolver
from ivr.runtime.digits import clean_digits, digits_problem, mask
from ivr.runtime.intents import PhraseMatcher, matcher_for
from ivr.runtime.listen import Heard, Listener
from ivr.runtime.record import IvrStep
from ivr.runtime.state import CallState
from switchboard.clock import Clock

log = logging.getLogger(__name__)

ALL_KEYS = "0123456789*#"
MAX_RAW_KEYS = 64


@dataclass(frozen=True)
class Say:
    """Something to play: a prompt key of the flow, or a built-in text."""

    key: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class Choice:
    """One answer to a question: a key, phrases, or both."""

    key: str
    dtmf: str | None
    phrases: tuple[str, ...]
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.key


@dataclass(frozen=True)
class Question:
    """How to ask for a choice."""

    prompt: str
    keypad_prompt: str | None
    invalid_prompt: str | None
    timeout_prompt: str | None
    reprompt: str | None
    timeout_ms: int
    listen_ms: int
    retries: int
    min_confidence: float
    speech: bool


@dataclass(frozen=True)
class _Turn:
    choice: Choice | None
    reason: str  # dtmf, speech, timeout, invalid, unsure
    input: str
    text: str | None = None
    confidence: float | None = None
    failure: str | None = None


class Interaction:
    """Prompts and input for one runner; stateless between calls."""

    def __init__(self, prompts: PromptResolver, listener: Listener, clock: Clock) -> None:
        self.prompts = prompts
        self.listener = listener
        self.clock = clock

    # ---- steps ---------------------------------------------------------------------------------------
    def begin(self) -> tuple[datetime, float]:
        return self.clock.now(), self.clock.monotonic()

    def step(
        self,
        state: CallState,
        begun: tuple[datetime, float],
        node: str,
        kind: str,
        *,
        input: str | None = None,
        recognised: str | None = None,
        confidence: float | None = None,
        result: str | None = None,
    ) -> None:
        """Append one step to the call's IVR path."""
        duration = max(0, round((self.clock.monotonic() - begun[1]) * 1000))
        state.steps.append(IvrStep(
            seq=len(state.steps) + 1, flow=state.flow_name, node=node, kind=kind, started=begun[0],
            duration_ms=duration, input=input, recognised=recognised, confidence=confidence, result=result,
        ))  # fmt: skip

    # ---- prompts -------------------------------------------------------------------------------------
    async def say(self, channel: CallChannel, state: CallState, what: Say, escape: str = "") -> str | None:
        """Play a prompt key or a built-in text; returns the escape digit pressed, if any."""
        if what.key is not None:
            return await self.play(channel, state, what.key, escape)
        if what.text is not None:
            return await self._play_def(channel, state, PromptDef(say=what.text), what.text[:30], escape)
        return None

    async def play(
        self, channel: CallChannel, state: CallState, key: str | None, escape: str = ""
    ) -> str | None:
        """Play a prompt of the current flow (a bare key is a recorded file name)."""
        if key is None:
            return None
        prompt = state.flow.prompt(key) if state.flow is not None else None
        return await self._play_def(channel, state, prompt or PromptDef(file=key), key, escape)

    async def _play_def(
        self, channel: CallChannel, state: CallState, prompt: PromptDef, label: str, escape: str
    ) -> str | None:
        for filename in self.prompts.files_for(prompt, state.language):
            result = await channel.stream_file(filename, escape)
            if result.played:
                return result.digit
        # the caller still gets through: the flow goes on without this prompt
        log.warning("prompt not playable call_id=%s flow=%s prompt=%s", state.call_id, state.flow_name, label)
        return None

    # ---- choices (menus, yes/no) ---------------------------------------------------------------------
    async def choose(
        self, channel: CallChannel, state: CallState, node: str, kind: str, choices: list[Choice], q: Question
    ) -> Choice | None:
        """Ask until a choice is made or retries run out (None). Speech failures fall back to keys."""
        matcher: PhraseMatcher[str] = matcher_for(tuple((c.key, c.phrases) for c in choices))
        by_key = {c.key: c for c in choices}
        digits = "".join(c.dtmf for c in choices if c.dtmf)
        attempts = 0
        reprompted = False
        lead = Say(key=q.prompt)
        while True:
            begun = self.begin()
            turn = await self._turn(channel, state, lead, choices, q, matcher, by_key, digits)
            lead = Say(key=q.prompt)
            result = f"choice:{turn.choice.name}" if turn.choice else turn.reason
            if turn.failure:
                result += f" (speech {turn.failure}, keypad used)"
            self.step(
                state,
                begun,
                node,
                kind,
                input=turn.input,
                recognised=turn.text,
                confidence=turn.confidence,
                result=result,
            )
            if turn.choice is not None:
                return turn.choice
            if turn.reason == "unsure" and not reprompted:
                reprompted = True
                lead = Say(key=q.reprompt) if q.reprompt else Say(text=texts.REPROMPT)
                continue
            attempts += 1
            if attempts > q.retries:
                return None
            if turn.reason == "timeout":
                miss = Say(key=q.timeout_prompt) if q.timeout_prompt else Say(text=texts.NO_INPUT)
            else:
                miss = Say(key=q.invalid_prompt) if q.invalid_prompt else Say(text=texts.INVALID)
            pressed = await self.say(channel, state, miss, digits)
            if pressed is not None and pressed in digits:
                # a key pressed during the apology is an answer, not noise
                choice = next(c for c in choices if c.dtmf == pressed)
                self.step(
                    state, self.begin(), node, kind, input=f"dtmf:{pressed}", result=f"choice:{choice.name}"
                )
                return choice

    async def _turn(
        self,
        channel: CallChannel,
        state: CallState,
        lead: Say,
        choices: list[Choice],
        q: Question,
        matcher: PhraseMatcher[str],
        by_key: dict[str, Choice],
        digits: str,
    ) -> _Turn:
        use_speech = q.speech and bool(matcher.grammar) and self.listener.available and not state.speech_down
        if not use_speech and lead.key == q.prompt and q.keypad_prompt:
            lead = Say(key=q.keypad_prompt)
        pressed = await self.say(channel, state, lead, digits)
        if pressed is None and not use_speech:
            pressed = await channel.wait_for_digit(q.timeout_ms)
            if pressed is None:
                return _Turn(None, "timeout", "timeout")
        if pressed is not None:
            return _by_digit(pressed, choices)
        heard = await self.listener.listen(
            channel, state, escape_digits=digits, listen_ms=q.listen_ms, grammar=matcher.grammar
        )
        if heard.digit is not None:
            return _by_digit(heard.digit, choices)
        if heard.failure is not None:
            pressed = await self._keypad(channel, state, q, digits)
            if pressed is None:
                return _Turn(None, "timeout", "timeout", failure=heard.failure)
            turn = _by_digit(pressed, choices)
            return _Turn(turn.choice, turn.reason, turn.input, failure=heard.failure)
        return _from_speech(heard, matcher, by_key, q.min_confidence)

    async def _keypad(self, channel: CallChannel, state: CallState, q: Question, digits: str) -> str | None:
        """The keypad alternative after a speech failure."""
        if q.keypad_prompt:
            pressed = await self.play(channel, state, q.keypad_prompt, digits)
        else:
            pressed = await self.say(channel, state, Say(text=texts.KEYPAD), digits)
            if pressed is None:
                pressed = await self.play(channel, state, q.prompt, digits)
        if pressed is None:
            pressed = await channel.wait_for_digit(q.timeout_ms)
        return pressed

    # ---- digits --------------------------------------------------------------------------------------
    async def collect(
        self, channel: CallChannel, state: CallState, node_id: str, node: CollectNode, defaults: Defaults
    ) -> str | None:
        """Collect valid digits into ``node.into``; None after the last retry."""
        retries = node.retries if node.retries is not None else defaults.retries
        timeout_ms = node.timeout_ms or defaults.timeout_ms
        attempts = 0
        while True:
            begun = self.begin()
            raw = await self._read_keys(channel, state, node, timeout_ms)
            digits = clean_digits(raw)
            problem = "timeout" if not digits else digits_problem(digits, node)
            shown = mask(digits) if node.masked else raw
            self.step(
                state,
                begun,
                node_id,
                "collect",
                input=shown or "timeout",
                result=f"invalid:{problem}" if problem and problem != "timeout" else problem or "ok",
            )
            if problem is None:
                state.set_var(node.into, digits, sensitive=node.masked)
                if node.read_back:
                    await channel.say_digits(digits)
                return digits
            attempts += 1
            if attempts > retries:
                return None
            if problem == "timeout":
                miss = node.timeout_prompt or defaults.timeout_prompt
                await self.say(channel, state, Say(key=miss) if miss else Say(text=texts.NO_INPUT))
            else:
                miss = node.invalid_prompt or defaults.invalid_prompt
                await self.say(channel, state, Say(key=miss) if miss else Say(text=texts.INVALID_DIGITS))

    async def _read_keys(
        self, channel: CallChannel, state: CallState, node: CollectNode, timeout_ms: int
    ) -> str:
        """Keys as pressed until the terminator (after some digit), max digits, or a timeout."""
        raw = ""
        pressed = await self.play(channel, state, node.prompt, ALL_KEYS)
        while len(raw) < MAX_RAW_KEYS:
            if pressed is None:
                pressed = await channel.wait_for_digit(timeout_ms)
                if pressed is None:
                    break
            if pressed == node.terminator and clean_digits(raw):
                break
            raw += pressed
            if len(clean_digits(raw)) >= node.max_digits:
                break
            pressed = None
        return raw

    # ---- free speech ---------------------------------------------------------------------------------
    async def ask_free(
        self, channel: CallChannel, state: CallState, node_id: str, node: AskNode, defaults: Defaults
    ) -> Intent | None:
        """'Tell us why you are calling': an intent, or None for the grammar-menu fallback."""
        begun = self.begin()
        if not (defaults.speech and self.listener.free_speech_ok and not state.speech_down):
            self.step(state, begun, node_id, "ask", result="fallback:free-speech-unavailable")
            return None
        matcher: PhraseMatcher[int] = matcher_for(
            tuple((i, tuple(intent.say)) for i, intent in enumerate(node.intents))
        )
        min_conf = node.min_confidence if node.min_confidence is not None else defaults.min_confidence
        lead = Say(key=node.prompt)
        for attempt in range(2):  # one re-prompt when unsure
            begun = self.begin()
            pressed = await self.say(channel, state, lead, ALL_KEYS)
            heard = (
                Heard(digit=pressed)
                if pressed is not None
                else await self.listener.listen(
                    channel, state, escape_digits="0123456789*", listen_ms=defaults.listen_ms, grammar=None
                )
            )
            if heard.digit is not None:
                self.step(state, begun, node_id, "ask", input=f"dtmf:{heard.digit}", result="fallback:keys")
                return None
            if heard.failure is not None:
                self.step(
                    state, begun, node_id, "ask", input="speech", result=f"fallback:speech-{heard.failure}"
                )
                return None
            match = matcher.match(heard.text or "")
            sure = match is not None and (heard.confidence or 0.0) >= min_conf
            result = (
                f"intent:{node.intents[match.choice].name}"
                if match and sure
                else ("unsure" if match else ("silence" if heard.silent else "no-match"))
            )
            self.step(
                state,
                begun,
                node_id,
                "ask",
                input="speech",
                recognised=heard.text,
                confidence=heard.confidence,
                result=result,
            )
            if match is not None and sure:
                return node.intents[match.choice]
            if attempt == 0:
                again = node.reprompt or defaults.reprompt
                lead = Say(key=again) if again else Say(text=texts.REPROMPT)
        return None


def _by_digit(digit: str, choices: list[Choice]) -> _Turn:
    for choice in choices:
        if choice.dtmf == digit:
            return _Turn(choice, "dtmf", f"dtmf:{digit}")
    return _Turn(None, "invalid", f"dtmf:{digit}")


def _from_speech(
    heard: Heard, matcher: PhraseMatcher[str], by_key: dict[str, Choice], min_confidence: float
) -> _Turn:
    if heard.silent:
        return _Turn(None, "timeout", "speech:silence")
    if not heard.text:
        return _Turn(None, "invalid", "speech", "", heard.confidence)
    match = matcher.match(heard.text)
    if match is None:
        return _Turn(None, "invalid", "speech", heard.text, heard.confidence)
    if (heard.confidence or 0.0) < min_confidence:
        return _Turn(None, "unsure", "speech", heard.text, heard.confidence)
    return _Turn(by_key[match.choice], "speech", "speech", heard.text, heard.confidence)
