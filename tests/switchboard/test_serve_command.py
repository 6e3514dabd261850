"""`switchboard serve` against an Asterisk (the emulator over real TCP): start-up, health, clear errors."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from sim.emulator import AsteriskEmulator
from switchboard.clock import SystemClock

REPO = Path(__file__).resolve().parents[2]
SWITCHBOARD = Path(sys.executable).parent / "switchboard"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, ami_port: int, secret: str, redis_url: str, http_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(
        SWITCHBOARD_GENERAL_VAR_DIR=str(tmp_path / "var"),
        SWITCHBOARD_AMI_PORT=str(ami_port),
        SWITCHBOARD_AMI_SECRET=secret,
        SWITCHBOARD_AGI_PORT="0",
        SWITCHBOARD_HTTP_PORT=str(http_port),
        SWITCHBOARD_REDIS_URL=redis_url,
        SWITCHBOARD_ACD_KEY_PREFIX="serve-test",
        SWITCHBOARD_IVR_FLOWS_DIR=str(REPO / "flows"),
        SWITCHBOARD_SPEECH_ENGINE="none",
    )
    return env


async def _run(env: dict[str, str], cwd: Path, seconds: float) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(SWITCHBOARD), "serve", cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), seconds)
    return proc.returncode or 0, err.decode()


async def test_serve_without_asterisk_is_one_clear_line(tmp_path: Path, redis_url: str) -> None:
    env = _env(tmp_path, _free_port(), "x", redis_url, _free_port())
    code, err = await _run(env, tmp_path, 60)
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("switchboard: error:")]
    assert len(lines) == 1 and "Asterisk" in lines[0], err


async def test_serve_with_wrong_ami_secret_is_one_clear_line(tmp_path: Path, redis_url: str) -> None:
    emulator = AsteriskEmulator(SystemClock(), ami_secret="right-secret")
    await emulator.start()
    try:
        env = _env(tmp_path, emulator.ami_port, "wrong-secret", redis_url, _free_port())
        code, err = await _run(env, tmp_path, 60)
    finally:
        await emulator.stop()
    assert code == 2
    assert "Traceback" not in err and "wrong-secret" not in err
    lines = [line for line in err.splitlines() if line.startswith("switchboard: error:")]
    assert len(lines) == 1, err


async def test_serve_connects_to_asterisk_and_reports_healthy(tmp_path: Path, redis_url: str) -> None:
    emulator = AsteriskEmulator(SystemClock(), ami_secret="s3cret-value")
    await emulator.start()
    http_port = _free_port()
    env = _env(tmp_path, emulator.ami_port, "s3cret-value", redis_url, http_port)
    log_path = tmp_path / "serve.log"
    log_file = log_path.open("wb")  # a file, not a pipe: nobody drains a pipe while we poll /health
    proc = await asyncio.create_subprocess_exec(
        str(SWITCHBOARD), "serve", cwd=tmp_path, env=env, stdout=log_file, stderr=log_file
    )
    try:
        health = None
        async with httpx.AsyncClient() as client:
            for _ in range(150):
                try:
                    health = await client.get(f"http://127.0.0.1:{http_port}/health", timeout=1)
                    if health.status_code == 200 and health.json()["components"].get("asterisk") == "ok":
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        assert health is not None and health.status_code == 200, health and health.text
        assert health.json()["components"]["asterisk"] == "ok"
        assert emulator.ami_clients >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
        log_file.close()
        await emulator.stop()
    err = log_path.read_text()
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    assert "s3cret-value" not in err
