"""Pronunciations for words the CMU dictionary lacks (site phrases, brand names), from espeak-ng.

``espeak-ng -x`` writes its phoneme mnemonics; ``ARPABET`` maps the English ones onto the phone set of
PocketSphinx's US English model. A word whose phonemes do not all map gets no pronunciation (and the
engine leaves that phrase out of the grammar, saying so in the log) rather than a wrong one.

``variants`` adds the reduced unstressed prefix callers really say: "reset" is /ri'sEt/ in the dictionary
and /rI'sEt/ or /r@'sEt/ in many mouths.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

log = logging.getLogger(__name__)

ESPEAK_TIMEOUT = 3.0

ARPABET: dict[str, tuple[str, ...]] = {
    # consonants
    "p": ("P",), "b": ("B",), "t": ("T",), "d": ("D",), "k": ("K",), "g": ("G",),
    "f": ("F",), "v": ("V",), "T": ("TH",), "D": ("DH",), "s": ("S",), "z": ("Z",),
    "S": ("SH",), "Z": ("ZH",), "h": ("HH",), "tS": ("CH",), "dZ": ("JH",),
    "m": ("M",), "n": ("N",), "N": ("NG",), "l": ("L",), "r": ("R",), "w": ("W",), "j": ("Y",),
    "t#": ("T",), "d#": ("D",), "n-": ("AH", "N"), "m-": ("AH", "M"), "l-": ("AH", "L"), "?": (),
    "x": ("K",), "C": ("HH",), "r-": ("ER",),
    # vowels
    "a": ("AE",), "a#": ("AE",), "aa": ("AE",), "A": ("AA",), "A:": ("AA",), "A@": ("AA", "R"),
    "aI": ("AY",), "aI@": ("AY", "ER"), "aI3": ("AY", "ER"), "aU": ("AW",), "aU@": ("AW", "ER"),
    "E": ("EH",), "e": ("EH",), "e@": ("EH", "R"), "eI": ("EY",), "I": ("IH",), "I#": ("IH",),
    "I2": ("IH",), "i": ("IY",), "i:": ("IY",), "i@": ("IH", "R"), "i@3": ("IH", "R"),
    "0": ("AA",), "O": ("AO",), "O:": ("AO",), "O@": ("AO", "R"), "o@": ("AO", "R"),
    "oU": ("OW",), "o": ("OW",), "OI": ("OY",), "U": ("UH",), "u:": ("UW",), "u": ("UW",),
    "U@": ("UH", "R"), "V": ("AH",), "@": ("AH",), "@2": ("AH",), "@5": ("AH",), "@L": ("AH", "L"),
    "3": ("ER",), "3:": ("ER",), "@r": ("ER",), "a2": ("AH",),
}  # fmt: skip
_STRESS = "'\",%=_:|"


def parse_espeak(mnemonics: str) -> tuple[str, ...] | None:
    """Phones for one word's ``espeak-ng -x --sep=' '`` output, or None when a phoneme has no mapping."""
    phones: list[str] = []
    for token in mnemonics.split():
        token = token.strip(_STRESS)
        if not token:
            continue
        mapped = ARPABET.get(token)
        if mapped is None:
            mapped = ARPABET.get(token.rstrip(";"))
        if mapped is None:
            return None
        phones.extend(mapped)
    return tuple(phones) or None


def espeak_pronunciation(word: str, voice: str = "en-us") -> tuple[str, ...] | None:
    """ARPAbet phones for ``word`` from espeak-ng, or None (espeak missing, odd output, unmapped phoneme)."""
    exe = shutil.which("espeak-ng")
    if exe is None or not word or len(word) > 64:
        return None
    try:
        done = subprocess.run(
            [exe, "-q", "-x", "--sep= ", "-v", voice, "--", word],
            capture_output=True,
            timeout=ESPEAK_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("espeak-ng failed for a grammar word error=%s", exc)
        return None
    if done.returncode != 0:
        return None
    return parse_espeak(done.stdout.decode("utf-8", "replace"))


def variants(phones: tuple[str, ...]) -> list[tuple[str, ...]]:
    """More pronunciations of a word: the reduced vowel of an unstressed ``re-``/``de-``/``pre-``."""
    out: list[tuple[str, ...]] = []
    for lead in (("R",), ("D",), ("P", "R")):
        n = len(lead)
        if phones[:n] == lead and len(phones) > n + 2 and phones[n] == "IY" and phones[n + 1] not in _VOWELS:
            out.append((*lead, "IH", *phones[n + 1 :]))
            out.append((*lead, "AH", *phones[n + 1 :]))
    return out


_VOWELS = frozenset(
    {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
)
