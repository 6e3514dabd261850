"""SMPP 3.4 via aiosmpplib: bound as a transceiver, with throttling, reconnects and receipts.

aiosmpplib sends from a broker queue and reports through a hook. Our broker lets a send that timed
out *before* it reached the socket be withdrawn, so only a message that really went out can end
up uncertain. Replies and delivery receipts arrive on the same connection and go to the handlers.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging

from aiosmpplib import (
    ESME,
    NPI,
    TON,
    AbstractBroker,
    AbstractHook,
    AbstractRateLimiter,
    AbstractRetryTimer,
    DeliverSm,
    PhoneNumber,
    SmppCommandStatus,
    SmppMessage,
    SmppSessionState,
    SubmitSm,
    SubmitSmResp,
)

from surveys.gateways.base import (
    GatewayRejected,
    GatewayUnavailable,
    GatewayUncertain,
    InboundHandlers,
)
from surveys.model import DeliveryReport, DeliveryStatus, InboundSms, OutboundSms, SendReceipt
from switchboard.clock import Clock

log = logging.getLogger(__name__)

_RETRYABLE = {
    SmppCommandStatus.ESME_RTHROTTLED,
    SmppCommandStatus.ESME_RMSGQFUL,
    SmppCommandStatus.ESME_RSYSERR,
    SmppCommandStatus.ESME_RSUBMITFAIL,
    SmppCommandStatus.ESME_RINVBNDSTS,
}
_RECEIPT_STATUS = {
    "DELIVRD": DeliveryStatus.DELIVERED,
    "ACCEPTD": DeliveryStatus.ACCEPTED,
    "ENROUTE": DeliveryStatus.ACCEPTED,
    "UNDELIV": DeliveryStatus.UNDELIVERABLE,
    "EXPIRED": DeliveryStatus.UNDELIVERABLE,
    "DELETED": DeliveryStatus.UNDELIVERABLE,
    "REJECTD": DeliveryStatus.REJECTED,
}


class _Broker(AbstractBroker):
    """A FIFO whose entries can be withdrawn until aiosmpplib takes them."""

    def __init__(self) -> None:
        self._queue: collections.deque[SmppMessage] = collections.deque()
        self._ready = asyncio.Event()
        self._closed = False
        self.taken: set[str] = set()

    def close(self) -> None:
        """Wake and end the consumer."""
        self._closed = True
        self._ready.set()

    async def enqueue(self, message: SmppMessage) -> None:
        self._queue.append(message)
        self._ready.set()

    async def dequeue(self) -> SmppMessage:
        while not self._queue:
            if self._closed:
                # Ends aiosmpplib's sender task at once instead of after its 0.5 s grace.
                raise ConnectionError("smpp gateway closing")
            self._ready.clear()
            await self._ready.wait()
        message = self._queue.popleft()
        log_id = getattr(message, "log_id", "")
        if log_id:
            self.taken.add(log_id)
        return message

    def withdraw(self, log_id: str) -> bool:
        """Remove a not-yet-taken message; True if it was still waiting (so it never went out)."""
        for message in self._queue:
            if getattr(message, "log_id", "") == log_id:
                self._queue.remove(message)
                return True
        return False


class _RateLimiter(AbstractRateLimiter):
    """At most ``per_second`` submits per second, spaced evenly, on the injected clock."""

    def __init__(self, per_second: float, clock: Clock) -> None:
        self._interval = 1.0 / per_second
        self._clock = clock
        self._next = 0.0

    async def limit(self) -> None:
        now = self._clock.monotonic()
        wait = self._next - now
        self._next = max(now, self._next) + self._interval
        if wait > 0:
            await self._clock.sleep(wait)


class _RetryTimer(AbstractRetryTimer):
    """Reconnect delays 1 s, 2 s, 4 s ... capped, on the injected clock."""

    def __init__(self, clock: Clock, cap: float) -> None:
        self._clock = clock
        self._cap = cap
        self._delay = 0.0

    async def wait(self) -> None:
        if self._delay == 0.0:
            self._delay = 1.0
            return
        await self._clock.sleep(self._delay)
        self._delay = min(self._cap, self._delay * 2)

    def reset(self) -> None:
        self._delay = 0.0

    def next_delay(self) -> float:
        return self._delay


class _LogForwarder(logging.Handler):
    """aiosmpplib logs through its own logger objects; forward warnings and errors to ours."""

    def emit(self, record: logging.LogRecord) -> None:
        log.log(record.levelno, "aiosmpplib %s", record.getMessage()[:300])


class _Hook(AbstractHook):
    def __init__(self, gateway: SmppGateway) -> None:
        self._gateway = gateway

    async def sending(self, smpp_message: SmppMessage, pdu: bytes, client_id: str) -> None:
        return None

    async def received(self, smpp_message: SmppMessage | None, pdu: bytes, client_id: str) -> None:
        await self._gateway._received(smpp_message)

    async def send_error(self, smpp_message: SmppMessage, error: Exception, client_id: str) -> None:
        self._gateway._send_failed(smpp_message, error)


class SmppGateway:
    """An SMPP transceiver session kept bound in the background."""

    name = "smpp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        system_id: str,
        password: str,
        clock: Clock,
        system_type: str = "",
        source_addr: str = "",
        timeout: float = 10.0,
        enquire_link_interval: float = 30.0,
        max_per_second: float = 50.0,
        reconnect_max: float = 60.0,
    ) -> None:
        self._settings = (host, port, system_id, password, system_type)
        self._clock = clock
        self._source = source_addr
        self._timeout = timeout
        self._enquire_link_interval = enquire_link_interval
        self._max_per_second = max_per_second
        self._reconnect_max = reconnect_max
        self._pending: dict[str, asyncio.Future[tuple[SmppCommandStatus, str]]] = {}
        self._handlers: InboundHandlers | None = None
        self._esme: ESME | None = None
        self._broker = _Broker()
        self._task: asyncio.Task[None] | None = None

    @property
    def bound(self) -> bool:
        """True while the transceiver session is bound."""
        return self._esme is not None and self._esme.session_state == SmppSessionState.BOUND_TRX

    async def start(self, handlers: InboundHandlers) -> None:
        if self._task is not None:
            return
        host, port, system_id, password, system_type = self._settings
        self._handlers = handlers
        self._broker = _Broker()
        self._esme = ESME(
            smsc_host=host,
            smsc_port=port,
            system_id=system_id,
            password=password,
            system_type=system_type,
            enquire_link_interval=float(self._enquire_link_interval),
            socket_timeout=float(self._timeout),
            hook=_Hook(self),
            broker=self._broker,
            rate_limiter=_RateLimiter(self._max_per_second, self._clock),
            retry_timer=_RetryTimer(self._clock, self._reconnect_max),
            log_level=logging.WARNING,
            log_handler=_LogForwarder(),
            log_metadata={"gateway": "smpp", "smsc_host": host},
        )
        self._task = asyncio.create_task(self._keep_bound(self._esme), name="smpp-esme")

    async def _keep_bound(self, esme: ESME) -> None:
        """aiosmpplib reconnects by itself; if its loop ever dies, log it and start it again."""
        while True:
            try:
                await esme.start()
                return  # stop() was called
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("smpp session loop crashed; restarting")
                await self._clock.sleep(1.0)

    async def wait_bound(self, within: float) -> bool:
        """Wait (real time) up to ``within`` seconds until bound; False if it did not bind."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not self.bound:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def close(self) -> None:
        task, self._task = self._task, None
        esme = self._esme
        self._broker.close()
        if esme is not None and esme.session_state == SmppSessionState.BOUND_TRX:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(esme.stop(), timeout=2.0)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for future in self._pending.values():
            if not future.done():
                future.set_exception(GatewayUncertain("smpp gateway closed while waiting for the answer"))

    async def send(self, sms: OutboundSms) -> SendReceipt:
        if not self.bound:
            raise GatewayUnavailable("smpp session not bound")
        key = f"{sms.survey_id}:{sms.attempt}"
        try:
            message = SubmitSm(
                short_message=sms.text,
                source=_source_address(self._source or sms.sender),
                destination=PhoneNumber(sms.to.lstrip("+"), TON.INTERNATIONAL, NPI.ISDN),
                registered_delivery=1,
                log_id=key,
            )
        except ValueError as exc:
            raise GatewayRejected(f"cannot build submit_sm: {exc}") from None
        future: asyncio.Future[tuple[SmppCommandStatus, str]] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        await self._broker.enqueue(message)
        try:
            status, message_id = await asyncio.wait_for(asyncio.shield(future), self._timeout)
        except TimeoutError:
            if self._broker.withdraw(key):
                raise GatewayUnavailable(f"smpp did not take the message in {self._timeout:g}s") from None
            raise GatewayUncertain(f"no submit_sm_resp in {self._timeout:g}s") from None
        finally:
            self._pending.pop(key, None)
            self._broker.taken.discard(key)
        if status == SmppCommandStatus.ESME_ROK:
            return SendReceipt(gateway=self.name, message_id=message_id or None)
        if status in _RETRYABLE:
            raise GatewayUnavailable(f"smsc answered {status.name}")
        raise GatewayRejected(f"smsc refused the message: {status.name}")

    async def healthy(self) -> bool:
        return self.bound

    def _send_failed(self, message: SmppMessage, error: Exception) -> None:
        future = self._pending.get(getattr(message, "log_id", ""))
        if future is None or future.done():
            return
        if isinstance(error, ValueError):
            future.set_exception(GatewayRejected(f"cannot encode submit_sm: {error}"))
        else:
            future.set_exception(GatewayUncertain(f"connection failed while sending: {error!r}"))

    async def _received(self, message: SmppMessage | None) -> None:
        if isinstance(message, SubmitSmResp):
            await self._answer(message)
        elif isinstance(message, DeliverSm):
            await self._deliver(message)

    async def _answer(self, response: SubmitSmResp) -> None:
        future = self._pending.get(response.log_id)
        if future is not None and not future.done():
            future.set_result((response.command_status, response.message_id))
            return
        if response.command_status == SmppCommandStatus.ESME_ROK and response.log_id and self._handlers:
            # Too late for send(): the survey is uncertain now, and this answer proves it went out.
            survey_id = response.log_id.split(":", 1)[0]
            report = DeliveryReport(
                gateway=self.name,
                status=DeliveryStatus.ACCEPTED,
                survey_id=survey_id,
                message_id=response.message_id or None,
                detail="late submit_sm_resp",
            )
            try:
                await self._handlers.on_report(report)
            except Exception:
                log.exception("smpp late submit_sm_resp not recorded survey_id=%s", survey_id)

    async def _deliver(self, message: DeliverSm) -> None:
        if self._handlers is None:
            return
        try:
            if message.is_receipt():
                receipt = message.parse_receipt()
                message_id = str(receipt.get("id", "") or "")
                state = str(receipt.get("stat", "") or "").upper()
                status = _RECEIPT_STATUS.get(state)
                if not message_id or status is None:
                    log.warning("smpp receipt ignored: id=%r stat=%r", message_id, state)
                    return
                await self._handlers.on_report(
                    DeliveryReport(gateway=self.name, status=status, message_id=message_id, detail=state)
                )
            else:
                await self._handlers.on_reply(
                    InboundSms(
                        sender=message.source.number,
                        text=message.short_message,
                        gateway=self.name,
                        receiver=message.destination.number,
                    )
                )
        except Exception as exc:
            # Not acknowledging is the only way to keep the message: dropping the connection before
            # deliver_sm_resp makes the SMSC deliver it again after the reconnect.
            log.exception("smpp inbound message not stored; dropping the session so the SMSC redelivers")
            raise ConnectionError("inbound handler failed") from exc


def _source_address(sender: str) -> PhoneNumber:
    """A short code or number as digits; anything else as an alphanumeric sender (at most 11 chars)."""
    if sender.startswith("+") and sender[1:].isdigit():
        return PhoneNumber(sender[1:20], TON.INTERNATIONAL, NPI.ISDN)
    if sender.isdigit():
        return PhoneNumber(sender[:20], TON.UNKNOWN, NPI.UNKNOWN)
    return PhoneNumber(sender[:11], TON.ALPHANUMERIC, NPI.UNKNOWN)
