"""Rendered prompts: every text prompt of the flows as an 8 kHz WAV (espeak-ng, then sox) for Asterisk.

``build_prompts`` is what ``switchboard prompts build`` runs. File names are the runtime's
(``ivr.runtime.channel.rendered_name``: a hash of language and text), so the runtime finds what this
renders. A prompt whose recording exists is skipped (recordings take precedence); a prompt already
rendered with the same voice and speed is left alone (``.sb-prompts.json`` in the sounds directory
remembers how each file was made), so a rebuild renders only what changed. Each file is written to a
temporary name first and renamed, so Asterisk never plays half a file.

``render_wav`` is also what the speech tests and benchmark use to make caller audio.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ivr.flows.check import flow_files
from ivr.flows.loader import parse_flow_file
from ivr.flows.model import FlowSpec, MenuNode, SetNode
from ivr.flows.validate import recording_lookup
from ivr.runtime.channel import rendered_name
from ivr.runtime.texts import BUILTIN_TEXTS

log = logging.getLogger(__name__)

MANIFEST = ".sb-prompts.json"
RENDER_TIMEOUT = 60.0
MAX_TEXT_CHARS = 2000


class PromptRenderError(Exception):
    """espeak-ng or sox is missing or failed for one text."""


@dataclass(frozen=True)
class PromptText:
    """One text to render in one language, and where the flows use it."""

    text: str
    language: str
    used_by: tuple[str, ...]  # "flow:prompt-key" (or "built-in")

    @property
    def name(self) -> str:
        return rendered_name(self.text, self.language)


@dataclass
class PromptsReport:
    """What a build did; ``ok`` when nothing failed."""

    rendered: list[str] = field(default_factory=list)  # file names (no extension)
    unchanged: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)  # "flow:key" whose recording exists
    failed: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    problems: list[str] = field(default_factory=list)  # flow files that did not load
    stale: list[str] = field(default_factory=list)  # rendered earlier, no longer used
    removed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.problems

    def summary(self) -> str:
        """One line per fact, for the CLI."""
        lines = [
            f"rendered {len(self.rendered)}, unchanged {len(self.unchanged)}, "
            f"recorded {len(self.recorded)}, failed {len(self.failed)}, stale {len(self.stale)}"
            + (f" (removed {len(self.removed)})" if self.removed else "")
        ]
        lines += [f"failed {name}: {reason}" for name, reason in self.failed]
        lines += [f"flow problem: {p}" for p in self.problems]
        return "\n".join(lines)


def voice_for(language: str, override: str = "") -> str:
    """The espeak-ng voice for a flow language ("en" -> "en-us", "pt-BR" -> "pt-br")."""
    if override:
        return override
    lang = language.strip().replace("_", "-").lower() or "en"
    return "en-us" if lang == "en" else lang


def collect_prompts(
    flows_dir: Path, *, recordings_dirs: Iterable[Path] = ()
) -> tuple[list[PromptText], PromptsReport]:
    """Every text the flows in ``flows_dir`` can play (built-in texts included), per language."""
    report = PromptsReport()
    texts: dict[tuple[str, str], list[str]] = {}
    roots = [Path(d) for d in recordings_dirs]
    languages_seen: set[str] = set()
    for path in flow_files(Path(flows_dir)):
        parsed, problems = parse_flow_file(path)
        if parsed is None:
            report.problems.extend(str(p) for p in problems)
            continue
        flow = parsed.flow
        languages = _languages(flow.spec)
        languages_seen |= languages
        for key, prompt in flow.spec.prompts.items():
            if prompt.say is None:
                continue
            if prompt.file is not None and any(
                (exists := recording_lookup(roots, lang)) is not None and exists(prompt.file)
                for lang in languages
            ):
                report.recorded.append(f"{flow.name}:{key}")
                continue
            for lang in sorted(languages):
                texts.setdefault((prompt.say, lang), []).append(f"{flow.name}:{key}")
    for lang in sorted(languages_seen or {"en"}):
        for text in BUILTIN_TEXTS:
            texts.setdefault((text, lang), []).append("built-in")
    prompts = [PromptText(text, lang, tuple(used)) for (text, lang), used in texts.items()]
    return prompts, report


def _recorded(roots: list[Path], name: str, languages: Iterable[str]) -> bool:
    for lang in languages:
        exists = recording_lookup(roots, lang)
        if exists is not None and exists(name):
            return True
    return False


def _languages(spec: FlowSpec) -> set[str]:
    """The flow's language and any language a node of it can switch to."""
    found = {spec.language}
    for node in spec.nodes.values():
        values: list[object] = []
        if isinstance(node, SetNode):
            values.append(node.values.get("language"))
        elif isinstance(node, MenuNode):
            values += [option.set.get("language") for option in node.options]
        values += [intent.set.get("language") for intent in getattr(node, "intents", [])]
        found |= {v for v in values if isinstance(v, str) and v}
    return found


def build_prompts(
    flows_dir: Path,
    sounds_dir: Path,
    *,
    voice: str = "",
    speed: int = 150,
    recordings_dirs: Iterable[Path] = (),
    force: bool = False,
    prune: bool = False,
) -> PromptsReport:
    """Render what changed into ``sounds_dir``; ``prune`` deletes files this builder made that are unused."""
    sounds_dir = Path(sounds_dir)
    sounds_dir.mkdir(parents=True, exist_ok=True)
    prompts, report = collect_prompts(flows_dir, recordings_dirs=recordings_dirs)
    manifest = _read_manifest(sounds_dir)
    engine = espeak_version()
    wanted: set[str] = set()
    for prompt in prompts:
        name = prompt.name
        wanted.add(name)
        the_voice = voice_for(prompt.language, voice)
        recipe = {"voice": the_voice, "speed": speed, "engine": engine, "text": _digest(prompt.text)}
        target = sounds_dir / f"{name}.wav"
        if not force and manifest.get(name) == recipe and target.is_file():
            report.unchanged.append(name)
            continue
        try:
            render_wav(prompt.text, target, voice=the_voice, speed=speed)
        except PromptRenderError as exc:
            report.failed.append((name, str(exc)))
            log.warning(
                "prompt render failed name=%s used_by=%s error=%s", name, ",".join(prompt.used_by), exc
            )
            continue
        manifest[name] = recipe
        report.rendered.append(name)
    for name in sorted(set(manifest) - wanted):
        report.stale.append(name)
        if prune:
            with contextlib.suppress(FileNotFoundError):
                (sounds_dir / f"{name}.wav").unlink()
            del manifest[name]
            report.removed.append(name)
    _write_manifest(sounds_dir, manifest)
    return report


def render_wav(
    text: str,
    out: Path,
    *,
    voice: str = "en-us",
    speed: int = 150,
    pitch: int | None = None,
    telephone: bool = False,
    pad: tuple[float, float] = (0.0, 0.0),
) -> None:
    """Speak ``text`` into ``out`` as 8 kHz 16-bit mono WAV (``telephone``: 300-3400 Hz band)."""
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    if espeak is None or sox is None:
        raise PromptRenderError("espeak-ng and sox must be installed to render prompts")
    text = text[:MAX_TEXT_CHARS]
    if not text.strip():
        raise PromptRenderError("empty text")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, raw_name = tempfile.mkstemp(suffix=".wav", prefix=".sb-raw-", dir=out.parent)
    os.close(fd)
    fd, tmp_name = tempfile.mkstemp(suffix=".wav", prefix=".sb-new-", dir=out.parent)
    os.close(fd)
    raw, tmp = Path(raw_name), Path(tmp_name)
    try:
        speak = [espeak, "-v", voice, "-s", str(int(speed)), "-w", str(raw), "--stdin"]
        if pitch is not None:
            speak[1:1] = ["-p", str(int(pitch))]
        _run(speak, text.encode("utf-8"), "espeak-ng")
        convert = [sox, str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(tmp)]
        if telephone:
            convert += ["highpass", "300", "lowpass", "3400"]
        if pad != (0.0, 0.0):
            convert += ["pad", f"{max(0.0, pad[0]):.3f}", f"{max(0.0, pad[1]):.3f}"]
        _run(convert, None, "sox")
        os.replace(tmp, out)
    finally:
        for leftover in (raw, tmp):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _run(cmd: list[str], stdin: bytes | None, what: str) -> None:
    try:
        done = subprocess.run(cmd, input=stdin, capture_output=True, timeout=RENDER_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise PromptRenderError(f"{what} took longer than {RENDER_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise PromptRenderError(f"{what} could not run: {exc}") from None
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise PromptRenderError(f"{what} failed ({done.returncode}): {err[-1] if err else 'no message'}")


@functools.cache
def espeak_version() -> str:
    """espeak-ng's version line (part of each file's recipe: a new espeak re-renders)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return "missing"
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.decode("utf-8", "replace").split("Data at")[0].strip()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _read_manifest(sounds_dir: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads((sounds_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, dict)}


def _write_manifest(sounds_dir: Path, manifest: dict[str, dict[str, object]]) -> None:
    tmp = sounds_dir / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, sounds_dir / MANIFEST)
