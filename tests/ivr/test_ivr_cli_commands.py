"""`switchboard flows check` and `switchboard prompts build` as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SWITCHBOARD = Path(sys.executable).parent / "switchboard"


def _run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")} | env
    return subprocess.run(
        [str(SWITCHBOARD), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )


def test_flows_check_passes_the_shipped_flows(tmp_path: Path) -> None:
    result = _run("flows", "check", str(REPO / "flows"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "flows OK" in result.stdout


def test_flows_check_reports_each_problem_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "flow: bad\nstart: x\nnodes:\n  x: {kind: menu, prompt: nope, options: [{dtmf: 1, next: nowhere}]}\n"
    )
    result = _run("flows", "check", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{bad}:4:") and "nowhere" in line for line in lines), result.stdout
    assert any("missing prompt 'nope'" in line for line in lines), result.stdout
    assert "Traceback" not in result.stderr


def test_prompts_build_renders_8khz_wavs_and_skips_unchanged_ones(tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    env = {"SWITCHBOARD_IVR_FLOWS_DIR": str(REPO / "flows"), "SWITCHBOARD_IVR_SOUNDS_DIR": str(sounds)}
    first = _run("prompts", "build", cwd=tmp_path, **env)
    assert first.returncode == 0, first.stdout + first.stderr
    wavs = sorted(sounds.glob("*.wav"))
    assert len(wavs) >= 20
    with wave.open(str(wavs[0])) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getnframes() > 8000 * 0.5
    second = _run("prompts", "build", cwd=tmp_path, **env)
    assert second.returncode == 0
    assert "rendered 0," in second.stdout, second.stdout
