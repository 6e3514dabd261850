"""Errors a person running Switchboard can fix: the CLI prints each as one line, never a traceback.

Adapters raise these at their boundary, worded as "what is wrong; what to do about it".
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager


class UserFacingError(Exception):
    """A problem the operator can fix; ``str(exc)`` is one line that says what and how."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class PortInUseError(UserFacingError):
    """A listening port is taken by another process."""


class ListenError(UserFacingError):
    """A listening socket could not be opened for another reason (permission, unknown address)."""


class ServiceUnavailableError(UserFacingError):
    """A service Switchboard depends on (Asterisk, Redis, the database) cannot be reached."""


class AsteriskUnavailableError(ServiceUnavailableError):
    """Asterisk's manager interface does not answer."""


class AmiLoginError(UserFacingError):
    """Asterisk refused the AMI user name or secret."""


class RedisUnavailableError(ServiceUnavailableError):
    """Neither the configured Redis nor the embedded one can be used."""


class DatabaseUnavailableError(ServiceUnavailableError):
    """The SQL database cannot be reached or migrated."""


def one_line(text: str) -> str:
    """Collapse whitespace and newlines so that a message is exactly one line."""
    return " ".join(str(text).split())


def describe(exc: BaseException) -> str:
    """An exception's message on one line, or its type's name when it has none (a timeout says nothing)."""
    return one_line(str(exc)) or type(exc).__name__


def env_name(setting: str) -> str:
    """``"agi.port"`` -> ``"SWITCHBOARD_AGI_PORT"``."""
    return "SWITCHBOARD_" + setting.replace(".", "_").upper()


def listen_error(exc: OSError, *, service: str, host: str, port: int, setting: str) -> UserFacingError:
    """Translate a bind failure; ``setting`` is the section, e.g. ``"agi"`` for SWITCHBOARD_AGI_PORT/HOST."""
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return PortInUseError(
            f"port {where} is already in use ({service}); stop the other program or set "
            f"{env_name(setting + '.port')}"
        )
    if exc.errno == errno.EACCES:
        return ListenError(
            f"not allowed to listen on {where} ({service}); use a port above 1023 or set "
            f"{env_name(setting + '.port')}"
        )
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return ListenError(
            f"cannot listen on {where} ({service}): {exc.strerror or exc}; set {env_name(setting + '.host')} "
            "to an address of this machine"
        )
    return ListenError(f"cannot listen on {where} ({service}): {exc.strerror or exc}")


@contextmanager
def listening(*, service: str, host: str, port: int, setting: str) -> Iterator[None]:
    """Wrap the code that binds a server socket so that bind failures become one clear line."""
    try:
        yield
    except OSError as exc:
        raise listen_error(exc, service=service, host=host, port=port, setting=setting) from exc


def asterisk_unreachable(host: str, port: int, reason: str) -> AsteriskUnavailableError:
    """The AMI connection failed: Asterisk is not running, not listening there, or firewalled."""
    return AsteriskUnavailableError(
        f"cannot reach Asterisk's manager interface at {host}:{port} ({reason}); is Asterisk running with "
        "asterisk-conf/manager.conf? Set SWITCHBOARD_AMI_HOST/SWITCHBOARD_AMI_PORT, or try "
        "`switchboard demo`, which needs no Asterisk"
    )


def ami_login_refused(username: str) -> AmiLoginError:
    """Asterisk answered but refused the credentials (the secret itself is never repeated)."""
    return AmiLoginError(
        f"Asterisk refused the AMI login for user {username!r}; check SWITCHBOARD_AMI_USERNAME and "
        "SWITCHBOARD_AMI_SECRET against the [section] and secret= in manager.conf"
    )
