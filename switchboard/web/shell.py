"""The page shell: Jinja2 templates with a shared layout, the navigation each role sees, time helpers.

Pages built on it call ``shell.render(request, "name.html", {...})``; the layout then shows the signed-in
user, the navigation for their role, the CSRF token for forms and scripts, and converts every
``{{ when | localtime }}`` into the viewer's time zone in the browser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse

from switchboard import __version__
from switchboard.users.model import Role

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
STATIC_PATH = "/static"
TZ_COOKIE = "sb_tz"  # set by static/js/switchboard.js: the browser's IANA zone, for server-side day grouping


@dataclass(frozen=True)
class NavItem:
    """A link in the top navigation, shown to users whose role includes ``role``."""

    label: str
    href: str
    role: Role
    order: int = 100


def utc_iso(value: datetime) -> str:
    """``2026-01-05T09:00:00Z``: the machine-readable form pages put in ``<time datetime=...>``."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: Switchboard times are timezone-aware UTC")
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def localtime(value: datetime | None, style: str = "datetime") -> Markup:
    """A ``<time>`` element in UTC that static/js/switchboard.js rewrites into the viewer's zone.

    ``style``: datetime, date, time or relative. Without JavaScript the UTC text stays readable.
    """
    if value is None:
        return Markup("")
    iso = utc_iso(value)
    fallback = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{}" data-style="{}">{}</time>').format(iso, style, fallback)


def viewer_zone(connection: HTTPConnection, default: str = "UTC") -> ZoneInfo:
    """The viewer's time zone as the browser reported it (cookie), or ``default``; never trusts the text."""
    name = unquote(connection.cookies.get(TZ_COOKIE, ""))  # the script percent-encodes it: Asia%2FSeoul
    if name and len(name) <= 64 and all(c.isalnum() or c in "/_+-" for c in name):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(default)


class WebShell:
    """Templates, navigation and landing pages shared by every page of the product."""

    def __init__(self, *, template_dirs: Sequence[Path] = (), version: str = __version__) -> None:
        loaders = [FileSystemLoader(str(d)) for d in template_dirs]
        self.env = Environment(
            loader=ChoiceLoader([*loaders, FileSystemLoader(str(TEMPLATES_DIR))]),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["localtime"] = localtime
        self.env.filters["utc_iso"] = utc_iso
        self.env.globals["static_url"] = self.static_url
        self.version = version
        self._nav: list[NavItem] = []
        self._landing: dict[Role, str] = {}

    def add_template_dir(self, directory: Path) -> None:
        """Let a domain ship its own templates (searched before the shell's own)."""
        loader = self.env.loader
        assert isinstance(loader, ChoiceLoader)
        loader.loaders = [FileSystemLoader(str(directory)), *loader.loaders]

    def add_nav(self, label: str, href: str, role: Role, *, order: int = 100) -> None:
        """Show a navigation link to users whose role includes ``role``."""
        self._nav = sorted([*self._nav, NavItem(label, href, role, order)], key=lambda n: (n.order, n.label))

    def nav_for(self, role: Role | None) -> list[NavItem]:
        return [] if role is None else [n for n in self._nav if role.includes(n.role)]

    def set_landing(self, role: Role, href: str) -> None:
        """Where a user of ``role`` goes after signing in (default: the home page ``/``)."""
        self._landing[role] = href

    def landing_for(self, role: Role) -> str:
        return self._landing.get(role, "/")

    def static_url(self, path: str) -> str:
        """URL of a static file, versioned so a new release is never served a stale script."""
        return f"{STATIC_PATH}/{path.lstrip('/')}?v={self.version}"

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """Render a page; the layout gets the signed-in user (if any), their navigation and CSRF token."""
        from switchboard.web.auth import CurrentUser  # the auth module imports this one

        principal = getattr(request.state, "sb_principal", None)
        user = CurrentUser.from_principal(principal) if principal and hasattr(principal, "user") else None
        values: dict[str, Any] = {
            "request": request,
            "current_user": user,
            "csrf_token": (user.csrf_token if user else None) or "",
            "nav": self.nav_for(user.role if user else None),
            "version": self.version,
            "flash": None,
            "error": None,
            **(context or {}),
        }
        html = self.env.get_template(name).render(values)
        return HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
