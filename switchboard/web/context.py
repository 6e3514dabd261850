"""What the web layer needs at request time, installed once on ``app.state`` by install_web."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

from starlette.requests import HTTPConnection

from switchboard.users.accounts import UserAccounts
from switchboard.users.auth import Authenticator
from switchboard.web.shell import WebShell

SESSION_COOKIE = "sb_session"
LOGIN_CSRF_COOKIE = "sb_login_csrf"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class CookiePolicy:
    """Cookie flags. ``auto`` sets Secure except for plain-http requests to a loopback-bound demo.

    A Secure cookie also gets the ``__Host-`` name prefix: the browser then refuses it from a sibling
    subdomain or a path, so nobody can plant a session or login-CSRF cookie for us.
    """

    mode: Literal["auto", "always", "never"] = "auto"
    loopback_bind: bool = True

    def secure(self, connection: HTTPConnection) -> bool:
        if self.mode == "always":
            return True
        if self.mode == "never":
            return False
        return connection.url.scheme in ("https", "wss") or not self.loopback_bind

    def session_name(self, connection: HTTPConnection) -> str:
        return self._name(SESSION_COOKIE, connection)

    def login_csrf_name(self, connection: HTTPConnection) -> str:
        return self._name(LOGIN_CSRF_COOKIE, connection)

    def _name(self, base: str, connection: HTTPConnection) -> str:
        return f"__Host-{base}" if self.secure(connection) else base


@dataclass
class WebContext:
    """Services and policies every web route reaches through ``app.state``."""

    authenticator: Authenticator
    accounts: UserAccounts
    shell: WebShell
    cookies: CookiePolicy = field(default_factory=CookiePolicy)
    allowed_origins: frozenset[str] = frozenset()
    login_path: str = "/login"
