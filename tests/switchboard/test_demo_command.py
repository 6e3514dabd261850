"""`switchboard demo` end to end: the real controller against the emulator, as a new user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SWITCHBOARD = Path(sys.executable).parent / "switchboard"

pytestmark = pytest.mark.slow


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(
        SWITCHBOARD_GENERAL_VAR_DIR=str(tmp_path / "var"),
        SWITCHBOARD_AGI_PORT="0",
        SWITCHBOARD_HTTP_PORT="0",
        SWITCHBOARD_IVR_FLOWS_DIR=str(REPO / "flows"),
        SWITCHBOARD_SPEECH_ENGINE="none",
    )
    return env


def test_demo_handles_synthetic_calls_and_reports_their_outcomes(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(SWITCHBOARD), "demo", "--duration", "40", "--speed", "8", "--calls", "6"],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    last = [line for line in proc.stdout.splitlines() if line.startswith("[")][-1]
    assert "calls 6 |" in last
    # every call left the IVR with an outcome: resolved by self-service or handed to the queue
    resolved = int(last.split("resolved ")[1].split()[0])
    queued = int(last.split("queued ")[1].split()[0])
    assert resolved + queued >= 5, last
    assert "switchboard demo: stopped" in proc.stdout
    assert (tmp_path / "var" / "demo" / "switchboard.db").is_file()


def test_demo_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [str(SWITCHBOARD), "demo", "--speed", "4"],
        cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("[") or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (0, 130), err[-2000:]
    assert "Traceback" not in err


def test_demo_with_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = _env(tmp_path) | {"SWITCHBOARD_HTTP_PORT": str(port)}
        proc = subprocess.run(
            [str(SWITCHBOARD), "demo", "--duration", "5"], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("switchboard: error:")]
    assert len(errors) == 1 and str(port) in errors[0], proc.stderr
