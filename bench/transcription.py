"""Transcription throughput: audio hours per CPU hour with the default engine (PocketSphinx, embedded
English), on telephone-band speech (espeak-ng, two voices, resampled to 8 kHz by sox, with pauses between
utterances as in a call).

Two figures: the engine alone in this process (CPU time of the decode), and the real worker path (the
``spawn`` process pool that the controller uses, ``--workers`` processes) as wall-clock audio hours per
hour, which is what a site sees. Run: ``.venv/bin/python bench/transcription.py [--minutes M] [--workers N]
[--engine vosk --model DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from recordings import engine_process
from recordings.audio import read_pcm, write_wav
from recordings.transcriber import TranscriberSpec, build_transcriber

# No target is set by issue 5; this one says "a 2-core controller transcribes a day's calls of a small
# team overnight": 8 agents x 6 talking hours = 48 audio hours in 12 hours on one core -> 4.
TARGET_AUDIO_H_PER_CPU_H = 4.0
SENTENCES = [
    "Hello, thank you for calling. How can I help you today?",
    "I would like to check the balance on my account please.",
    "My internet connection keeps dropping every evening since last week.",
    "Could you tell me when the next invoice will be sent?",
    "Let me look that up for you, it will only take a moment.",
    "I have restarted the router twice but nothing changed.",
    "Your payment was received on the third of March.",
    "Is there anything else I can help you with today?",
]


def speech(tmp: Path, minutes: float) -> bytes:
    """About ``minutes`` of 8 kHz speech with half-second pauses between sentences."""
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    if not espeak or not sox:
        sys.exit("espeak-ng and sox are needed (Debian packages espeak-ng, sox)")
    clips: list[bytes] = []
    for i, text in enumerate(SENTENCES):
        raw, out = tmp / f"{i}-raw.wav", tmp / f"{i}.wav"
        voice = "en-us" if i % 2 == 0 else "en-gb"
        subprocess.run([espeak, "-v", voice, "-s", "150", "-w", str(raw), text], check=True, timeout=60)
        subprocess.run([sox, str(raw), "-r", "8000", "-c", "1", "-b", "16", str(out)], check=True, timeout=60)
        clips.append(read_pcm(out)[0] + bytes(8000))  # 0.5 s pause
    pcm = b""
    while len(pcm) < minutes * 60 * 16000:
        pcm += b"".join(clips)
    return pcm


def in_process(spec: TranscriberSpec, pcm: bytes) -> tuple[float, float, int]:
    """(audio seconds, CPU seconds, segments) for one decode in this process (engine load excluded)."""
    engine = build_transcriber(spec)
    cpu = time.process_time()
    segments = engine.transcribe(pcm)
    return len(pcm) / 16000, time.process_time() - cpu, len(segments)


async def through_pool(spec: TranscriberSpec, files: list[Path], workers: int) -> tuple[float, float]:
    """(wall seconds, child CPU seconds) to transcribe ``files`` on the worker's process pool."""
    pool = ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=engine_process.init_engine, initargs=(spec,)
    )
    loop = asyncio.get_running_loop()
    try:
        # Warm-up: start the processes and load the engine before the clock starts.
        await asyncio.gather(
            *(loop.run_in_executor(pool, engine_process.transcribe_files, []) for _ in range(workers))
        )
        started = time.perf_counter()
        await asyncio.gather(
            *(loop.run_in_executor(pool, engine_process.transcribe_files, [(str(f), "mixed")]) for f in files)
        )
        wall = time.perf_counter() - started
    finally:
        pool.shutdown(wait=True)
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="audio minutes per measurement")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="pool processes")
    parser.add_argument("--engine", default="pocketsphinx", choices=["pocketsphinx", "vosk"])
    parser.add_argument("--model", default=None, help="Vosk model directory (engine vosk)")
    args = parser.parse_args()
    spec = TranscriberSpec(args.engine, args.model)

    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        pcm = speech(tmp, args.minutes)
        audio_s, cpu_s, segments = in_process(spec, pcm)
        per_cpu = audio_s / cpu_s
        print(f"engine {args.engine}: {audio_s / 60:.1f} audio min in {cpu_s:.1f} CPU s, {segments} segments")
        print(
            f"  in-process: {per_cpu:.1f} audio hours per CPU hour (real-time factor {cpu_s / audio_s:.3f})"
        )

        chunk = len(pcm) // (2 * args.workers)
        chunk -= chunk % 2
        files = []
        for i in range(2 * args.workers):
            path = tmp / f"call-{i}.wav"
            write_wav(path, pcm[i * chunk : (i + 1) * chunk])
            files.append(path)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        wall, child_cpu = asyncio.run(through_pool(spec, files, args.workers))
        pool_audio = len(files) * chunk / 16000
        print(
            f"  worker pool ({args.workers} processes, {len(files)} calls): "
            f"{pool_audio / wall:.1f} audio hours per wall-clock hour; "
            f"{pool_audio / max(1e-9, child_cpu - before):.1f} audio hours per CPU hour incl. engine start"
        )
    verdict = "meets" if per_cpu >= TARGET_AUDIO_H_PER_CPU_H else "BELOW"
    print(f"target: >= {TARGET_AUDIO_H_PER_CPU_H:g} audio hours per CPU hour (one core): {verdict}")


if __name__ == "__main__":
    main()
