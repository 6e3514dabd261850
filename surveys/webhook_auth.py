"""Gateway webhook authentication: a source allow-list, a shared secret, and signed DLR URLs."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Iterable
from urllib.parse import unquote

log = logging.getLogger(__name__)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class SourceAllowList:
    """Addresses and networks ("127.0.0.1", "10.0.0.0/8", "::1") allowed to call the webhooks."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: list[IpNetwork] = []
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ValueError(f"webhook_allowed_sources: {entry!r} is not an address or network") from None

    def allows(self, host: str | None) -> bool:
        """Whether a peer address is on the list (unknown or unparsable peers are not)."""
        if not host:
            return False
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


def basic_auth_secret_ok(authorization: str | None, secret: str) -> bool:
    """True when an ``Authorization: Basic`` header carries ``secret`` as its password.

    Kannel puts ``user:password@`` from its get-url into the header without URL-decoding, so a
    percent-encoded password is accepted in either form.
    """
    if not secret or not authorization:
        return False
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    _, sep, password = decoded.partition(":")
    if not sep:
        return False
    return secret_matches(password, secret) or secret_matches(unquote(password), secret)


def secret_matches(given: str, secret: str) -> bool:
    """Constant-time comparison; an empty configured secret matches nothing."""
    if not secret:
        return False
    return hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8"))


def dlr_signature(secret: str, survey_id: str, attempt: int) -> str:
    """The token a DLR URL carries, so the secret itself never travels through Kannel."""
    message = f"dlr:{survey_id}:{attempt}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()[:32]


def dlr_signature_ok(secret: str, survey_id: str, attempt: int, signature: str) -> bool:
    """Whether a DLR URL's token matches."""
    if not secret:
        return False
    return hmac.compare_digest(dlr_signature(secret, survey_id, attempt), signature)
