"""AGI RECORD FILE: capture what the far end says, with res_agi's timeout, silence and DTMF rules."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sim.media import BYTES_PER_SAMPLE, RATE, concat_voice, mix_timeline, write_wav

if TYPE_CHECKING:
    from sim.agi_channel import AgiSessionState

log = logging.getLogger(__name__)

SILENCE_FRAME = 0.02  # the DSP decides per 20 ms frame; ``totalsilence > silence`` needs one more frame
DTMF_REWIND = 0.2  # res_agi chops 200 ms so the tone itself is not kept


def _options(argv: list[str]) -> tuple[float | None, bool, int]:
    """(silence seconds, beep, offset) from the optional arguments after the timeout."""
    silence = None
    for arg in argv[6:9]:
        if arg.startswith("s=") and arg[2:].isdigit() and int(arg[2:]) > 0:
            silence = float(int(arg[2:]))
            break
    beep = False
    offset = 0
    if len(argv) > 6:
        if argv[6].lstrip("-").isdigit():
            offset = int(argv[6])
        elif "=" not in argv[6]:
            beep = True
    if len(argv) > 7 and "=" not in argv[7]:
        beep = True
    return silence, beep, offset


async def handle_record_file(state: AgiSessionState, argv: list[str]) -> str | None:
    """``RECORD FILE <file> <format> <escape digits> <timeout ms> [offset] [BEEP] [s=silence]``."""
    if len(argv) < 6:
        return None
    try:
        timeout_ms = int(argv[5])
    except ValueError:
        return None
    pbx, ch = state.pbx, state.ch
    escape = argv[4]
    silence, beep, offset = _options(argv)
    if beep:
        from sim.agi_commands import stream

        result = await stream(state, "beep", escape)
        if result is not None and result[0] != 0:
            return f"200 result={result[0]} (randomerror) endpos={offset}\n"
    start = pbx.now()
    hook = getattr(ch.party, "on_record", None)
    if hook is not None:
        hook(pbx, ch)
    deadline = None if timeout_ms < 0 else start + timeout_ms / 1000
    reason, digit = "timeout", ""
    end = start
    with pbx.listening(ch):
        while True:
            now = pbx.now()
            found = next((d for d in ch.digits if d in escape), None)
            ch.digits.clear()
            if found is not None:
                reason, digit, end = "dtmf", found, now
                break
            if ch.interrupted:
                reason, end = "hangup", now
                break
            wake = deadline
            if silence is not None and ch.far_end_media:
                voice_ends = [s.end for s in ch.heard if s.voice and s.start < now and s.end > start]
                quiet_since = max([start, *voice_ends])
                stop_at = quiet_since + silence + SILENCE_FRAME
                if now >= stop_at:
                    reason, end = "silence", stop_at
                    break
                wake = stop_at if wake is None else min(wake, stop_at)
            if deadline is not None and now >= deadline:
                end = deadline
                break
            await ch.signal.wait(pbx.clock, None if wake is None else wake - now)
    segments = [s for s in ch.heard if s.voice]
    pcm = mix_timeline(segments, start, end) if ch.far_end_media else concat_voice(segments, start, end)
    if reason == "silence" and silence is not None:
        pcm = pcm[: max(0, len(pcm) - int((silence - 1.0) * RATE) * BYTES_PER_SAMPLE)]
    elif reason == "dtmf":
        pcm = pcm[: max(0, len(pcm) - int(DTMF_REWIND * RATE) * BYTES_PER_SAMPLE)]
    endpos = len(pcm) // BYTES_PER_SAMPLE
    target = pbx.host_path(f"{argv[2]}.{argv[3]}")
    try:
        if argv[3].lower().startswith("wav"):
            write_wav(target, pcm)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(pcm)
    except OSError as exc:
        log.warning("RECORD FILE cannot write channel=%s path=%s error=%s", ch.name, target, exc)
        state.fail()
        return "200 result=-1 (writefile)\n"
    if reason == "hangup":
        return f"200 result=-1 (hangup) endpos={endpos}\n"
    if reason == "dtmf":
        return f"200 result={ord(digit)} (dtmf) endpos={endpos}\n"
    return f"200 result=0 (timeout) endpos={endpos}\n"
