"""Whether a text fits the GSM 03.38 default alphabet (else it must go as UCS-2)."""

from __future__ import annotations

_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENSION = "^{}\\[~]|€\f"
GSM_CHARS = frozenset(_BASIC + _EXTENSION)


def is_gsm7(text: str) -> bool:
    """True when every character has a GSM 7-bit encoding."""
    return all(ch in GSM_CHARS for ch in text)
