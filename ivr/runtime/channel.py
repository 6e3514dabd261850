"""The narrow view of a call the flow runtime needs (``AgiSession`` satisfies it), and prompt file naming."""

from __future__ import annotations

import functools
import hashlib
from typing import Protocol

from ivr.fastagi.environment import AgiEnvironment
from ivr.fastagi.session import DigitsResult, RecordResult, StreamResult
from ivr.flows.model import PromptDef


class CallChannel(Protocol):
    """The AgiSession methods flows use. Commands raise ``AgiHangup`` once the caller has hung up."""

    env: AgiEnvironment
    call_id: str

    @property
    def hung_up(self) -> bool: ...

    async def answer(self) -> None: ...

    async def stream_file(self, filename: str, escape_digits: str = "") -> StreamResult: ...

    async def get_data(self, filename: str, timeout_ms: int, max_digits: int) -> DigitsResult: ...

    async def wait_for_digit(self, timeout_ms: int) -> str | None: ...

    async def say_digits(self, digits: str, escape_digits: str = "") -> str | None: ...

    async def record_file(
        self,
        filename: str,
        fmt: str = "wav",
        escape_digits: str = "#",
        timeout_ms: int = 10000,
        offset: int = 0,
        beep: bool = False,
        silence_s: int | None = None,
    ) -> RecordResult: ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def get_variable(self, name: str) -> str | None: ...

    async def exec(self, application: str, args: str = "") -> int: ...

    async def hangup(self) -> None: ...


class PromptResolver(Protocol):
    """Turns a prompt into the sound file names Asterisk should try, best first."""

    def files_for(self, prompt: PromptDef, language: str) -> list[str]: ...


@functools.lru_cache(maxsize=4096)  # flow texts: a bounded set, hashed again for every prompt played
def rendered_name(text: str, language: str) -> str:
    """Stable file name (no extension) of the rendering of ``text`` in ``language``."""
    digest = hashlib.sha256(f"{language}\x00{text}".encode()).hexdigest()[:24]
    return f"sb-{digest}"


class RenderedPrompts:
    """Default naming: a recording plays as its own name, text as ``<prefix>/sb-<hash>`` rendered beforehand.

    ``prefix`` is the rendered-prompts directory as Asterisk sees it (STREAM FILE takes absolute paths
    without the extension).
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.rstrip("/")

    def files_for(self, prompt: PromptDef, language: str) -> list[str]:
        files: list[str] = []
        if prompt.file is not None:
            files.append(prompt.file)
        if prompt.say is not None:
            files.append(f"{self.prefix}/{rendered_name(prompt.say, language)}")
        return files
