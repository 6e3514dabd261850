"""Map a file name as Asterisk sees it to the same file as this controller sees it, and nothing else.

Asterisk writes recordings under its monitor directory (``/var/spool/asterisk/monitor``); the controller
reads them through a shared mount (``local_dir``). The name comes from AMI (MIXMONITOR_FILENAME, or a
template filled with the channel's uniqueid), so it is treated as hostile: only names that stay inside the
Asterisk directory after normalisation map, and the mapped path must stay inside ``local_dir`` even after
symlinks are followed. HTTP requests never reach this module: they name recordings by id only.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Final

from recordings.model import Leg, Speaker

MAX_PATH_LENGTH: Final = 512


class UnsafePath(ValueError):
    """A recording path that does not map into the recordings directory."""


class PathMapper:
    """Asterisk's recordings directory and the controller's view of it."""

    def __init__(self, asterisk_dir: str, local_dir: Path) -> None:
        if not asterisk_dir.startswith("/"):
            raise ValueError(f"asterisk_dir must be absolute, got {asterisk_dir!r}")
        self.asterisk_dir = posixpath.normpath(asterisk_dir)
        self.local_dir = Path(local_dir)

    def to_local(self, asterisk_path: str) -> Path:
        """The controller's path for ``asterisk_path``; UnsafePath when it leaves the recordings directory."""
        if not asterisk_path:
            raise UnsafePath("empty recording path")
        if len(asterisk_path) > MAX_PATH_LENGTH:
            raise UnsafePath("recording path is too long")
        if any(ord(c) < 32 or c == "\x7f" for c in asterisk_path):
            raise UnsafePath("recording path contains control characters")
        if ".." in asterisk_path.split("/"):
            raise UnsafePath("recording path contains '..'")
        # MixMonitor puts relative names in its monitor directory.
        full = (
            asterisk_path
            if asterisk_path.startswith("/")
            else posixpath.join(self.asterisk_dir, asterisk_path)
        )
        full = posixpath.normpath(full)
        if self.asterisk_dir == "/":
            relative = full.lstrip("/")
        else:
            if not full.startswith(self.asterisk_dir + "/"):
                raise UnsafePath(f"recording path is outside {self.asterisk_dir}")
            relative = full[len(self.asterisk_dir) + 1 :]
        if not relative:
            raise UnsafePath("recording path names the directory itself")
        local = self.local_dir / relative
        if not self.contains(local):
            raise UnsafePath("recording path leaves the recordings directory (symlink?)")
        return local

    def contains(self, local: Path) -> bool:
        """True when ``local`` (symlinks followed) lies inside the controller's recordings directory."""
        try:
            root = self.local_dir.resolve()
            return local.resolve().is_relative_to(root) and local.resolve() != root
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop
            return False

    def leg(self, speaker: Speaker, asterisk_path: str) -> Leg:
        """A Leg with its local path, or with None (and the reason logged by the caller) when unsafe."""
        try:
            return Leg(speaker, asterisk_path, str(self.to_local(asterisk_path)))
        except UnsafePath:
            return Leg(speaker, asterisk_path, None)


def leg_path(mixed_asterisk_path: str, template: str) -> str:
    """A leg's Asterisk path from the mixed file's (``{stem}`` is the mixed path without its extension)."""
    stem, _ = posixpath.splitext(mixed_asterisk_path)
    return template.replace("{stem}", stem)


def default_asterisk_path(asterisk_dir: str, template: str, uniqueid: str) -> str:
    """The recording's Asterisk path from the configured template (when MIXMONITOR_FILENAME is unseen)."""
    name = template.replace("{uniqueid}", uniqueid)
    return name if name.startswith("/") else posixpath.join(asterisk_dir, name)
