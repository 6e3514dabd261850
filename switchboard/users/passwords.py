"""Password hashing with argon2id (argon2-cffi), off the event loop in a small bounded thread pool."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

log = logging.getLogger(__name__)
T = TypeVar("T")

# OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): about 0.1 s on one core here. argon2-cffi's own
# default (64 MiB, 4 lanes) takes most of a second on a 2-core controller that also runs the ACD.
DEFAULT_HASHER_PARAMS = {"time_cost": 2, "memory_cost": 19_456, "parallelism": 1}


def default_hasher() -> PasswordHasher:
    """The argon2id parameters new hashes use; older hashes are upgraded at the next sign-in."""
    return PasswordHasher(**DEFAULT_HASHER_PARAMS)


class PasswordHashing:
    """Hash and verify passwords in at most ``workers`` threads (CPU and memory stay bounded)."""

    def __init__(self, hasher: PasswordHasher | None = None, *, workers: int = 2) -> None:
        self._hasher = hasher or default_hasher()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        """A new argon2id hash of ``password`` (salted)."""
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches; False for a mismatch or a hash that cannot be read."""
        return await self._run(self._verify_sync, password_hash, password)

    async def burn(self, password: str) -> None:
        """Spend the time of one verification, so an unknown user name answers as slowly as a known one."""
        if self._dummy is None:
            self._dummy = await self.hash("switchboard-timing-equalizer")
        await self.verify(self._dummy, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash uses weaker parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    def close(self) -> None:
        """Stop the worker threads (waits for a running hash)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError, ValueError) as exc:
            log.warning("password hash could not be verified error=%s", type(exc).__name__)
            return False

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
