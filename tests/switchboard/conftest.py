"""Fixtures for the wiring tests: a clean SWITCHBOARD_* environment and a scratch working directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SWITCHBOARD_* variable leaks in from the developer's shell; var/ lands in a scratch directory."""
    for name in list(os.environ):
        if name.upper().startswith("SWITCHBOARD_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path
