"""Kannel over HTTP: ``sendsms`` out, delivery reports to our signed ``dlr-url``, replies via get-url.

Kannel answers ``202 0: Accepted for delivery`` (or ``3: Queued for later delivery`` while its SMSC
is down); both mean Kannel owns the message. Replies and delivery reports come to ``surveys.api``.
"""

from __future__ import annotations

import logging

import httpx

from surveys.gateways.base import (
    GatewayRejected,
    GatewayUnavailable,
    GatewayUncertain,
    InboundHandlers,
)
from surveys.gateways.gsm import is_gsm7
from surveys.model import OutboundSms, SendReceipt
from surveys.phone import mask
from surveys.webhook_auth import dlr_signature

log = logging.getLogger(__name__)

# Kannel report types: 1 delivered, 2 undeliverable, 4 queued on SMSC, 8 SMSC accepted, 16 SMSC rejected.
# The default asks for final outcomes only: every report is an HTTP call into this process.
DLR_MASK_FINAL = 1 | 2 | 16
# Statuses that mean "try again later": auth (a configuration fix should recover the surveys),
# throttling and every server-side error.
_RETRYABLE_4XX = {401, 403, 408, 429}


class KannelGateway:
    """Sends through Kannel's smsbox ``sendsms`` interface."""

    name = "kannel"

    def __init__(
        self,
        *,
        sendsms_url: str,
        username: str,
        password: str,
        dlr_url: str,
        webhook_secret: str,
        smsc_id: str = "",
        dlr_mask: int = DLR_MASK_FINAL,
        timeout: float = 10.0,
        max_connections: int = 50,
    ) -> None:
        self.sendsms_url = sendsms_url
        self._username = username
        self._password = password
        self._dlr_url = dlr_url
        self._secret = webhook_secret
        self._smsc_id = smsc_id
        self._dlr_mask = dlr_mask
        self._timeout = timeout
        self._max_connections = max_connections
        self._client: httpx.AsyncClient | None = None
        if dlr_url and not webhook_secret:
            log.warning("kannel dlr_url set but webhook_secret empty: delivery reports will be refused")

    async def start(self, handlers: InboundHandlers) -> None:
        if self._client is None:
            limits = httpx.Limits(
                max_connections=self._max_connections, max_keepalive_connections=self._max_connections
            )
            timeout = httpx.Timeout(self._timeout, connect=min(self._timeout, 5.0), pool=self._timeout)
            self._client = httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False)

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _params(self, sms: OutboundSms) -> dict[str, str]:
        params = {
            "username": self._username,
            "password": self._password,
            "from": sms.sender,
            "to": sms.to,
            "text": sms.text,
            "charset": "UTF-8",
            "coding": "0" if is_gsm7(sms.text) else "2",
        }
        if self._smsc_id:
            params["smsc"] = self._smsc_id
        if self._dlr_url and self._dlr_mask:
            joiner = "&" if "?" in self._dlr_url else "?"
            signature = dlr_signature(self._secret, sms.survey_id, sms.attempt)
            params["dlr-mask"] = str(self._dlr_mask)
            # %d, %F, %A are Kannel's placeholders: report type, SMSC message id, SMSC answer.
            params["dlr-url"] = (
                f"{self._dlr_url}{joiner}survey={sms.survey_id}&attempt={sms.attempt}&sig={signature}"
                "&type=%d&fid=%F&answer=%A"
            )
        return params

    async def send(self, sms: OutboundSms) -> SendReceipt:
        if self._client is None:
            raise GatewayUnavailable("kannel gateway not started")
        try:
            response = await self._client.get(self.sendsms_url, params=self._params(sms))
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise GatewayUnavailable(f"kannel unreachable: {self._scrub(exc)}") from None
        except httpx.TimeoutException as exc:
            raise GatewayUncertain(
                f"kannel did not answer in {self._timeout:g}s: {self._scrub(exc)}"
            ) from None
        except httpx.TransportError as exc:
            raise GatewayUncertain(f"kannel connection failed mid-request: {self._scrub(exc)}") from None
        body = response.text.strip()[:120]
        status = response.status_code
        if 200 <= status < 300:
            log.debug(
                "kannel accepted call_id=%s survey_id=%s to=%s answer=%r",
                sms.call_id,
                sms.survey_id,
                mask(sms.to),
                body,
            )
            return SendReceipt(gateway=self.name, message_id=None, detail=body)
        if status >= 500 or status in _RETRYABLE_4XX:
            if status in (401, 403):
                log.error(
                    "kannel refused our credentials status=%d answer=%r: check kannel_username/"
                    "kannel_password and the sendsms-user group",
                    status,
                    body,
                )
            raise GatewayUnavailable(f"kannel answered {status}: {body}")
        raise GatewayRejected(f"kannel refused the message ({status}): {body}")

    async def healthy(self) -> bool:
        """smsbox answers any HTTP request on its sendsms port (without credentials it says 4xx)."""
        if self._client is None:
            return False
        try:
            await self._client.get(self.sendsms_url)
        except httpx.HTTPError:
            return False
        return True

    def _scrub(self, exc: Exception) -> str:
        text = str(exc) or type(exc).__name__
        if self._password:
            text = text.replace(self._password, "***")
        return text[:160]
