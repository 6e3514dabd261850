"""Pronunciations for words the CMU dictionary lacks (site phrases, brand names), from espeak-ng.

``espeak-ng -x`` writes its phoneme mnemonics; ``ARPABET`` maps the English ones onto the phone set of
PocketSphinx's US English model. A word whose phonemes do not all map gets no pronunciation (and the
engine leaves that phrase out of the grammar, saying so in the log) rather than a wrong one.

Every grammar word also gets the pronunciations espeak-ng gives it in a US and a British voice (a
non-rhotic "other" is /VD@/, not the dictionary's AH DH ER), and ``variants`` adds the reduced unstressed
prefix callers really say: "reset" is /ri'sEt/ in the dictionary and /rI'sEt/ or /r@'sEt/ in many mouths.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from collections.abc import Iterable, Sequence

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


def parse_espeak(mnemonics: str, *, non_rhotic: bool = False) -> tuple[str, ...] | None:
    """Phones for one word's ``espeak-ng -x --sep=' '`` output, or None when a phoneme has no mapping.

    ``non_rhotic`` (British voices): espeak's "3" is then the final schwa of "other", not an r-coloured vowel.
    """
    phones: list[str] = []
    for token in mnemonics.split():
        token = token.strip(_STRESS)
        if not token or token == "r-":  # linking r: only between words
            continue
        mapped = ("AH",) if non_rhotic and token == "3" else ARPABET.get(token)
        if mapped is None:
            # espeak marks allophones with a digit or '#' ("t2", "@5", "I#"): the base phoneme will do
            base = token.rstrip("0123456789#;")
            mapped = ARPABET.get(base) if base else None
        if mapped is None:
            return None
        phones.extend(mapped)
    return tuple(phones) or None


def espeak_pronunciations(words: Sequence[str], voice: str = "en-us") -> dict[str, tuple[str, ...]]:
    """ARPAbet phones for each word from one espeak-ng run (words it cannot do are left out)."""
    exe = shutil.which("espeak-ng")
    todo = [w for w in dict.fromkeys(words) if w and len(w) <= 64 and "\n" not in w and "." not in w]
    if exe is None or not todo:
        return {}
    text = "".join(f"{w}.\n" for w in todo)  # one clause per word: one output line per word
    try:
        done = subprocess.run(
            [exe, "-q", "-x", "--sep= ", "-v", voice, "--stdin"],
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=ESPEAK_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("espeak-ng failed for grammar words voice=%s error=%s", voice, exc)
        return {}
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    if done.returncode != 0 or len(lines) != len(todo):
        return {}
    non_rhotic = voice.startswith("en-gb") and voice != "en-gb-scotland"
    out: dict[str, tuple[str, ...]] = {}
    for word, line in zip(todo, lines, strict=True):
        phones = parse_espeak(line, non_rhotic=non_rhotic)
        if phones:
            out[word] = phones
    return out


class Pronouncer:
    """Extra pronunciations for grammar words: accent variants from espeak-ng voices, reduced prefixes.

    Thread-safe; results are cached for the life of the process (one espeak-ng run per voice per batch).
    """

    def __init__(self, voices: Sequence[str] = ("en-us", "en-gb")) -> None:
        self.voices = tuple(voices)
        self._cache: dict[str, tuple[tuple[str, ...], ...]] = {}
        self._lock = threading.Lock()

    def prepare(self, words: Iterable[str]) -> None:
        """Fetch every word not seen yet, in one espeak-ng run per voice."""
        with self._lock:
            todo = [w for w in dict.fromkeys(words) if w not in self._cache]
        if not todo:
            return
        found: dict[str, list[tuple[str, ...]]] = {w: [] for w in todo}
        for voice in self.voices:
            for word, phones in espeak_pronunciations(todo, voice).items():
                if phones not in found[word]:
                    found[word].append(phones)
        with self._lock:
            for word, prons in found.items():
                self._cache[word] = tuple(prons)

    def extra(self, word: str, dictionary: str | None) -> list[tuple[str, ...]]:
        """Pronunciations to add for ``word`` (``dictionary``: its entry, if any), best first."""
        self.prepare([word])
        with self._lock:
            spoken = list(self._cache.get(word, ()))
        base = [tuple(dictionary.split())] if dictionary else []
        out: list[tuple[str, ...]] = []
        for phones in [*base, *spoken]:
            for candidate in (phones, *variants(phones)):
                if candidate not in out and candidate not in base:
                    out.append(candidate)
        return out


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
