"""A speech worker process: ``python -m ivr.speech.worker READ_FD WRITE_FD``.

Started by ``ProcessWorkerPool`` with a plain ``subprocess`` (not ``multiprocessing``, which re-imports the
parent's main script in every child). The first message on the pipe is the engine spec; the worker loads
the engine, says "ready" (or "load_failed" with the reason), then answers jobs until the pipe closes, which
also happens when the controller dies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from multiprocessing.connection import Connection
from typing import Any

from ivr.speech.engine import SpeechError
from ivr.speech.jobs import run_job


def serve(inbox: Connection, outbox: Connection) -> None:
    """Load the engine named by the first message, then answer jobs."""
    try:
        spec = inbox.recv()
        engine = spec.build()
        engine.load()
    except (EOFError, OSError):
        return
    except Exception as exc:
        with contextlib.suppress(OSError):
            outbox.send(("load_failed", f"{type(exc).__name__}: {exc}"))
        return
    outbox.send(("ready", os.getpid()))
    while True:
        try:
            job = inbox.recv()
        except (EOFError, OSError):
            return
        reply: tuple[Any, ...]
        try:
            reply = ("ok", run_job(engine, job))
        except SpeechError as exc:
            reply = ("error", type(exc).__name__, str(exc))
        except Exception as exc:
            reply = ("error", "SpeechError", f"engine failed: {type(exc).__name__}: {exc}")
        try:
            outbox.send(reply)
        except (OSError, ValueError):
            return


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the controller decides when workers stop
    read_fd, write_fd = int(sys.argv[1]), int(sys.argv[2])
    serve(Connection(read_fd, writable=False), Connection(write_fd, readable=False))


if __name__ == "__main__":
    main()
