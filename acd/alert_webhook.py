"""Posts raised and cleared alerts to a supervisor's webhook: queued, retried with back-off, signed.

The monitor only queues a delivery (never waits for the network); one sender task posts them in order.
Each POST has a timeout; connection errors, timeouts, 429 and 5xx answers are retried with exponential
back-off, other answers are final. Failures are logged, never raised. Redirects are not followed (a POST
would silently turn into a GET elsewhere).

With a secret configured the body is signed: ``X-Switchboard-Signature: sha256=<hex>`` is the HMAC-SHA256
of ``<X-Switchboard-Timestamp>.<body>`` with the secret, so a receiver can check both who sent it and that
it is fresh. ``X-Switchboard-Delivery`` is the same on every retry of one delivery (for de-duplication).

The HTTP client is the standard library's, run in a worker thread: one POST at a time, bounded by the
timeout, and no extra dependency.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.client
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from acd.alerts import Alert
from switchboard import __version__
from switchboard.clock import Clock

log = logging.getLogger(__name__)

MAX_QUEUED = 1000
MAX_BACKOFF_SECONDS = 60.0
RETRY_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Delivery:
    """One POST to make: the event (``raised`` or ``cleared``), the alert and when it happened."""

    event: str
    alert: Alert
    at: datetime

    @property
    def delivery_id(self) -> str:
        return f"{self.alert.id}:{self.event}:{int(self.alert.raised_at.timestamp() * 1000)}"

    def body(self) -> bytes:
        data: dict[str, Any] = {
            "event": f"alert.{self.event}",
            "alert": self.alert.to_json(),
            "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "source": "switchboard",
        }
        return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookRejected(Exception):
    """The receiver answered with a status that retrying will not change."""


class AlertWebhook:
    """A bounded queue of deliveries and the job that posts them."""

    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        secret: str = "",
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 1.0,
    ) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("the alerts webhook URL must start with http:// or https://")
        self.url = url
        self.clock = clock
        self.secret = secret
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.delivered = 0
        self.failed = 0
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue(MAX_QUEUED)
        self._opener = urllib.request.build_opener(_NoRedirect)

    def submit(self, delivery: Delivery) -> None:
        """Queue a delivery; never waits (when the queue is full the oldest one is dropped and logged)."""
        if self._queue.full():
            dropped = self._queue.get_nowait()
            log.error("alert webhook queue full; dropped delivery=%s", dropped.delivery_id)
        self._queue.put_nowait(delivery)

    async def run(self) -> None:
        """Post queued deliveries in order until cancelled (a supervised job)."""
        while True:
            delivery = await self._queue.get()
            await self.deliver(delivery)

    async def deliver(self, delivery: Delivery) -> bool:
        """Post one delivery with its retries; True when the receiver accepted it."""
        body = delivery.body()
        attempts = 1 + max(0, self.retries)
        for attempt in range(1, attempts + 1):
            try:
                status = await asyncio.to_thread(self._post, body, delivery)
            except WebhookRejected as exc:
                log.error("alert webhook refused delivery=%s error=%s", delivery.delivery_id, exc)
                break
            except OSError as exc:  # URLError, timeouts, refused connections, 5xx/429 (see _post)
                log.warning(
                    "alert webhook attempt failed delivery=%s attempt=%d/%d error=%s",
                    delivery.delivery_id, attempt, attempts, exc,
                )  # fmt: skip
                if attempt < attempts:
                    await self.clock.sleep(min(MAX_BACKOFF_SECONDS, self.backoff * 2 ** (attempt - 1)))
                continue
            self.delivered += 1
            log.info("alert webhook delivered delivery=%s status=%d", delivery.delivery_id, status)
            return True
        self.failed += 1
        log.error("alert webhook gave up delivery=%s", delivery.delivery_id)
        return False

    def headers(self, body: bytes, delivery: Delivery) -> Mapping[str, str]:
        """The request headers (with the signature when a secret is set)."""
        timestamp = str(int(self.clock.now().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"switchboard/{__version__}",
            "X-Switchboard-Event": f"alert.{delivery.event}",
            "X-Switchboard-Delivery": delivery.delivery_id,
            "X-Switchboard-Timestamp": timestamp,
        }
        if self.secret:
            headers["X-Switchboard-Signature"] = sign(self.secret, timestamp, body)
        return headers

    def _post(self, body: bytes, delivery: Delivery) -> int:
        """One POST (in a worker thread): the status on 2xx; OSError to retry; WebhookRejected to stop."""
        request = urllib.request.Request(
            self.url, data=body, headers=dict(self.headers(body, delivery)), method="POST"
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                answer.read(65_536)
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code >= 500 or exc.code in RETRY_STATUSES:
                raise OSError(f"HTTP {exc.code}") from None
            raise WebhookRejected(f"HTTP {exc.code}") from None
        except http.client.HTTPException as exc:  # a malformed answer: worth another try
            raise OSError(f"bad HTTP answer: {exc!r}") from None
