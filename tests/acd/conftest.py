"""ACD fixtures: a routing configuration, the real Redis store, and an in-memory Asterisk port.

The port is the ACD's boundary with Asterisk (acd/ports.py): this implementation records the actions and
keeps a table of live channels, so life-cycle tests run without sockets. Redis is the real server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis

from acd.codec import config_from_dict
from acd.errors import ChannelGoneError
from acd.model import AcdConfig
from acd.ports import LiveChannel
from acd.service import AcdService
from acd.store import AcdStore
from ivr.ports import QueueRequest
from switchboard.settings import AcdSettings


@dataclass
class FakeAsterisk:
    """An AsteriskPort that records actions; channels it does not know fail like Asterisk does."""

    channels: dict[str, LiveChannel] = field(default_factory=dict)  # by channel name
    variables: dict[str, dict[str, str]] = field(default_factory=dict)
    actions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    devices: dict[str, str] = field(default_factory=dict)  # PJSIP/101 -> NOT_INUSE

    def add_channel(self, channel: str, uniqueid: str, context: str = "sb-hold", **kw: Any) -> LiveChannel:
        ch = LiveChannel(channel, uniqueid, context, **kw)
        self.channels[channel] = ch
        return ch

    async def redirect(
        self,
        channel: str,
        context: str,
        exten: str = "s",
        priority: int = 1,
        *,
        variables: Mapping[str, str] | None = None,
    ) -> None:
        self.actions.append(
            ("redirect", {"channel": channel, "context": context, "variables": dict(variables or {})})
        )
        if channel not in self.channels:
            raise ChannelGoneError(f"Channel does not exist: {channel}")
        old = self.channels[channel]
        self.channels[channel] = LiveChannel(old.channel, old.uniqueid, context, exten, "Dial")

    async def hangup(self, channel: str) -> None:
        self.actions.append(("hangup", {"channel": channel}))
        self.channels.pop(channel, None)

    async def originate(
        self,
        *,
        channel: str,
        context: str,
        exten: str = "s",
        priority: int = 1,
        caller_id: str | None = None,
        timeout_ms: int | None = None,
        variables: Mapping[str, str] | None = None,
        action_id: str,
    ) -> None:
        self.actions.append(
            (
                "originate",
                {
                    "channel": channel,
                    "context": context,
                    "action_id": action_id,
                    "variables": dict(variables or {}),
                },
            )
        )

    async def live_channels(self) -> list[LiveChannel]:
        return list(self.channels.values())

    async def get_variable(self, channel: str, name: str) -> str | None:
        return self.variables.get(channel, {}).get(name)

    async def device_states(self) -> dict[str, str]:
        return dict(self.devices)

    def named(self, kind: str) -> list[dict[str, Any]]:
        return [a for k, a in self.actions if k == kind]


BASE_CONFIG: dict[str, Any] = {
    "skills": ["billing", "support", "sales"],
    "regions": ["eu", "us", "apac"],
    "agents": [
        {
            "id": "a1",
            "name": "Ann",
            "endpoint": "PJSIP/101",
            "skills": {"billing": 5, "support": 2},
            "regions": ["eu"],
            "languages": ["en"],
            "substitutes": ["a2", "a3"],
        },
        {
            "id": "a2",
            "name": "Bo",
            "endpoint": "PJSIP/102",
            "skills": {"billing": 3},
            "regions": ["us"],
            "languages": ["en"],
        },
        {
            "id": "a3",
            "name": "Cy",
            "endpoint": "PJSIP/103",
            "skills": {"billing": 4, "sales": 5},
            "regions": ["eu", "us"],
            "languages": ["en", "ko"],
        },
    ],
    "queues": [
        {
            "name": "billing",
            "skill": "billing",
            "wrap_up_seconds": 10,
            "ring_timeout_seconds": 15,
            "max_attempts": 3,
            "steps": [{"after": 30, "action": "any-region"}, {"after": 120, "action": "callback"}],
        },
        {"name": "support", "skill": "support", "wrap_up_seconds": 0},
        {"name": "sales", "skill": "sales"},
    ],
}


def make_config(**overrides: Any) -> AcdConfig:
    data = {**BASE_CONFIG, **overrides}
    return config_from_dict(data)


@pytest.fixture
def acd_config() -> AcdConfig:
    return make_config()


@pytest.fixture
async def store(redis_client: aioredis.Redis) -> AsyncIterator[AcdStore]:
    yield AcdStore(redis_client, "sbtest", origin="c1")


@pytest.fixture
def fake_asterisk() -> FakeAsterisk:
    return FakeAsterisk()


@pytest.fixture
async def service(
    store: AcdStore, fake_asterisk: FakeAsterisk, clock: Any, acd_config: AcdConfig
) -> AcdService:
    svc = AcdService(store, fake_asterisk, clock, AcdSettings(key_prefix="sbtest"), listen=False)
    await svc.load(acd_config)
    return svc


def request(
    call_id: str,
    *,
    queue: str = "billing",
    skill: str = "billing",
    region: str | None = "eu",
    priority: int = 0,
    number: str = "+15551230002",
    vip: bool = False,
    language: str = "en",
    uniqueid: str | None = None,
    channel: str | None = None,
) -> QueueRequest:
    return QueueRequest(
        call_id=call_id,
        channel=channel or f"PJSIP/carrier-{call_id}",
        uniqueid=uniqueid or f"u-{call_id}",
        caller_number=number,
        caller_name="Caller",
        queue=queue,
        skill=skill,
        region=region,
        priority=priority,
        language=language,
        vip=vip,
        reason="menu:test",
        variables={},
    )


@pytest.fixture
def make_request() -> Any:
    return request
