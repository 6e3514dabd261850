"""PocketSphinx 5, the embedded engine: US English from its PyPI wheel, so voice menus work out of the box.

What took a plain JSGF grammar of the phrases on telephone clips (~56-92 % depending on the set) to the
benchmark's 96 % intent accuracy on the default menus (``bench/speech.py``, which has the figures):

* Telephone audio is trimmed to the speech (plus a margin), upsampled to the model's 16 kHz, and given a
  steady noise floor 22 dB under the speech level. The model expects energy up to 6.8 kHz; band-limited
  audio leaves its top filterbank channels near log(0), and a steady floor there is something cepstral
  mean normalisation removes. (On 14 upsampled menu phrases: 56 % without the floor, 96 % with it.) The
  noise is a fixed table, so the same recording always gets the same answer.
* The grammar is a finite-state graph built from the phrases (one path each), decoded without the lattice
  "bestpath" pass, which on small grammars returned partial phrases ("speak to an"), and with wider beams.
* Pronunciations: each grammar word also gets espeak-ng's US and British pronunciations (a non-rhotic
  "other"), and the reduced-prefix variants callers say ("reset" as r-IH-set); words missing from the
  dictionary get espeak-ng's (``pronounce.py``), else their phrase is left out and logged.
* Confidence compares the grammar path with a free phone loop over the same audio (score per speech frame)
  and checks how much of the speech the words cover; its weights were fitted on clips of voices the
  benchmark does not use. Below 0.5 the flow re-prompts. A low answer gets a second look with carrier
  words allowed around the phrase ("restart please", "I'd like billing").

PocketSphinx holds the GIL while it decodes (measured: a 35 s decode blocked another thread for 0.46 s), so
the service runs this engine in worker processes by default; decoders are per thread in any case.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ivr.speech.conditioning import condition
from ivr.speech.engine import Recognition, SpeechUnavailable, clamp01, grammar_table
from ivr.speech.pronounce import Pronouncer

log = logging.getLogger(__name__)

PHONES = [
    "AA",
    "AE",
    "AH",
    "AO",
    "AW",
    "AY",
    "B",
    "CH",
    "D",
    "DH",
    "EH",
    "ER",
    "EY",
    "F",
    "G",
    "HH",
    "IH",
    "IY",
    "JH",
    "K",
    "L",
    "M",
    "N",
    "NG",
    "OW",
    "OY",
    "P",
    "R",
    "S",
    "SH",
    "T",
    "TH",
    "UH",
    "UW",
    "V",
    "W",
    "Y",
    "Z",
    "ZH",
]
LOOP_WORD = "_loop_{}"
MAX_GRAMMARS = 64
CARRIER_PROB = 0.1
# what callers wrap a menu choice in; recognised, then dropped from the answer
PREFIXES = (("i", "want"), ("i", "want", "to"), ("i'd", "like"), ("i'd", "like", "to"), ("i", "need"),
            ("i", "need", "to"), ("please",))  # fmt: skip
SUFFIXES = (("please",), ("thanks",), ("thank", "you"))


@dataclass(frozen=True)
class PocketSphinxSpec:
    """Tuning of the embedded engine (defaults measured with ``bench/speech.py``)."""

    kind: ClassVar[str] = "pocketsphinx"
    model_dir: str | None = None  # None: the model inside the pocketsphinx wheel
    noise_snr_db: float = 22.0
    trim_db: float = 35.0
    trim_margin_s: float = 0.3
    garbage_phone_prob: float = 1e-3
    # fitted (logistic regression) on menu clips from voices the benchmark does not use
    confidence_center: float = -3.2
    confidence_scale: float = 5.6
    coverage_weight: float = 5.2
    coverage_center: float = 0.8
    beam: float = 1e-60
    wbeam: float = 1e-40
    pbeam: float = 1e-60
    pip: float = 2.0
    accents: tuple[str, ...] = ("en-us", "en-gb")  # espeak-ng voices whose pronunciations are added

    def build(self) -> PocketSphinxEngine:
        return PocketSphinxEngine(self)


class PocketSphinxEngine:
    """Grammar and (weak) free recognition with PocketSphinx; one decoder per thread."""

    name = "pocketsphinx"

    def __init__(self, spec: PocketSphinxSpec | None = None) -> None:
        self.spec = spec or PocketSphinxSpec()
        self._local = threading.local()
        self._pronouncer = Pronouncer(self.spec.accents)

    def load(self) -> None:
        """Create this thread's decoder; ``SpeechUnavailable`` when PocketSphinx or its model is missing."""
        self._decoder()

    def recognize_grammar(self, pcm16_8k: bytes, phrases: Sequence[str]) -> Recognition:
        started = time.perf_counter()
        table = grammar_table(phrases)
        if not table:
            return Recognition("", 0.0, self.name, time.perf_counter() - started)
        audio = self._condition(pcm16_8k)
        if audio is None:
            return Recognition("", 0.0, self.name, time.perf_counter() - started)
        decoder = self._decoder()
        phrase, confidence = self._grammar_pass(decoder, table, audio, carriers=False)
        if confidence < 0.5:
            # callers wrap choices in words ("restart please", "I would like billing"): look again
            again, again_confidence = self._grammar_pass(decoder, table, audio, carriers=True)
            if again and again_confidence > confidence:
                phrase, confidence = again, again_confidence
        return Recognition(phrase, confidence, self.name, time.perf_counter() - started)

    def _condition(self, pcm16_8k: bytes) -> bytes | None:
        spec = self.spec
        return condition(
            pcm16_8k, noise_snr_db=spec.noise_snr_db, trim_db=spec.trim_db, trim_margin_s=spec.trim_margin_s
        )

    def _grammar_pass(
        self, decoder: _Decoder, table: dict[tuple[str, ...], str], audio: bytes, *, carriers: bool
    ) -> tuple[str, float]:
        search, paths = decoder.grammar(table, self._pronouncer, carriers=carriers)
        if search is None:
            return "", 0.0
        words, score, word_frames = decoder.decode(search, audio)
        phrase = paths.get(_strip_carriers(words, paths) if carriers else words, "")
        if not phrase:
            return "", 0.0
        return phrase, self._confidence(decoder, audio, score, word_frames)

    def recognize_free(self, pcm16_8k: bytes) -> Recognition:
        started = time.perf_counter()
        audio = self._condition(pcm16_8k)
        if audio is None:
            return Recognition("", 0.0, self.name, time.perf_counter() - started)
        decoder = self._decoder()
        words, score, word_frames = decoder.decode(decoder.free_search(), audio)
        text = " ".join(words)
        confidence = self._confidence(decoder, audio, score, word_frames) if text else 0.0
        return Recognition(text, confidence, self.name, time.perf_counter() - started)

    def _confidence(self, decoder: _Decoder, audio: bytes, score: float, word_frames: int) -> float:
        """How much better the words explain the speech than any phone sequence, and how much they cover.

        A grammar forced onto other speech loses to the free phone loop (score ratio), and speech the
        grammar cannot explain is left to silence (coverage of the loop's speech frames by words).
        """
        _, loop_score, loop_frames = decoder.decode(decoder.loop_search(), audio)
        if score == -math.inf or loop_score == -math.inf:
            return 0.0
        spec = self.spec
        llr = (score - loop_score) / max(loop_frames, 10)
        coverage = min(1.0, word_frames / max(loop_frames, 1))
        z = (llr - spec.confidence_center) / spec.confidence_scale
        z += spec.coverage_weight * (coverage - spec.coverage_center)
        return clamp01(1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z)))))

    def _decoder(self) -> _Decoder:
        decoder = getattr(self._local, "decoder", None)
        if decoder is None:
            decoder = _Decoder(self.spec)
            self._local.decoder = decoder
        return decoder


class _Decoder:
    """One PocketSphinx decoder with its grammar searches (not thread-safe: one per thread)."""

    def __init__(self, spec: PocketSphinxSpec) -> None:
        try:
            import pocketsphinx
        except ImportError as exc:
            raise SpeechUnavailable(f"pocketsphinx is not installed: {exc}") from None
        model = Path(spec.model_dir) if spec.model_dir else Path(pocketsphinx.get_model_path("en-us"))
        hmm, dictionary = model / "en-us", model / "cmudict-en-us.dict"
        if not (hmm / "mdef").is_file() or not dictionary.is_file():
            raise SpeechUnavailable(f"PocketSphinx model not found under {model}")
        self._lm_path = model / "en-us.lm.bin"
        try:
            config = pocketsphinx.Config(
                hmm=str(hmm), dict=str(dictionary), lm=None, bestpath=False, loglevel="FATAL",
                beam=spec.beam, wbeam=spec.wbeam, pbeam=spec.pbeam, pip=spec.pip,
            )  # fmt: skip
            self.ps: Any = pocketsphinx.Decoder(config)
            self._log_base = math.log(float(self.ps.config["logbase"]))
            for phone in PHONES:
                self.ps.add_word(LOOP_WORD.format(phone.lower()), phone, phone == PHONES[-1])
            transitions: list[tuple[Any, ...]] = [(0, 2, 1.0)]
            transitions += [(2, 3, spec.garbage_phone_prob, LOOP_WORD.format(p.lower())) for p in PHONES]
            transitions += [(3, 2, 1.0), (3, 1, 1.0)]
            self.ps.add_fsg("loop", self.ps.create_fsg("loop", 0, 1, transitions))
        except (RuntimeError, ValueError) as exc:
            raise SpeechUnavailable(f"PocketSphinx failed to start: {exc}") from None
        self._grammars: OrderedDict[
            tuple[tuple[str, ...], ...], tuple[str | None, dict[tuple[str, ...], str]]
        ]
        self._grammars = OrderedDict()
        self._serial = 0
        self._free_ready = False
        self._known: dict[str, bool] = {}

    def loop_search(self) -> str:
        return "loop"

    def free_search(self) -> str:
        if not self._free_ready:
            try:
                self.ps.add_lm_file("free", str(self._lm_path))
            except (RuntimeError, ValueError) as exc:
                raise SpeechUnavailable(f"PocketSphinx language model failed to load: {exc}") from None
            self._free_ready = True
        return "free"

    def grammar(
        self, table: dict[tuple[str, ...], str], pronouncer: Pronouncer, *, carriers: bool = False
    ) -> tuple[str | None, dict[tuple[str, ...], str]]:
        """The search for these phrases (built once, kept in a small LRU) and word-path -> phrase."""
        key = (carriers, *table)
        cached = self._grammars.get(key)
        if cached is not None:
            self._grammars.move_to_end(key)
            return cached
        around: tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]] = ((), ())
        if carriers:
            around = (PREFIXES, SUFFIXES)
        self._learn({w for words in (*table, *around[0], *around[1]) for w in words}, pronouncer)
        paths: dict[tuple[str, ...], str] = {}
        for words, phrase in table.items():
            if all(self._known.get(w) for w in words):
                paths.setdefault(words, phrase)
            else:
                log.warning("grammar phrase left out: a word has no pronunciation phrase=%r", phrase[:80])
        search: str | None = None
        if paths:
            self._serial += 1
            search = f"g{self._serial}"
            menu_words = {w for words in paths for w in words}
            prefixes, suffixes = (
                [seq for seq in seqs if not (set(seq) & menu_words) and all(self._known.get(w) for w in seq)]
                for seqs in around
            )
            self.ps.add_fsg(search, self.ps.create_fsg(search, 0, 1, _transitions(paths, prefixes, suffixes)))
        self._grammars[key] = (search, paths)
        while len(self._grammars) > MAX_GRAMMARS:
            _, (old, _) = self._grammars.popitem(last=False)
            if old is not None:
                self.ps.remove_search(old)
        return search, paths

    def _learn(self, words: set[str], pronouncer: Pronouncer) -> None:
        """Add pronunciations for words not seen yet (dictionary variants, accents, unknown words)."""
        todo = sorted(w for w in words if w not in self._known)
        if not todo:
            return
        pronouncer.prepare(todo)
        entries: list[tuple[str, str]] = []
        for word in todo:
            lookup = self.ps.lookup_word(word)
            self._known[word] = lookup is not None
            extra = pronouncer.extra(word, lookup)
            for n, phones in enumerate(extra):
                # the first pronunciation of an unknown word is its base entry; the rest are alternates
                entry = word if lookup is None and n == 0 else f"{word}({n + 10})"
                entries.append((entry, " ".join(phones)))
                self._known[word] = True
        for i, (entry, phones) in enumerate(entries):
            try:
                self.ps.add_word(entry, phones, i == len(entries) - 1)
            except RuntimeError:
                log.debug("pronunciation rejected word=%r phones=%s", entry, phones)

    def decode(self, search: str, audio16: bytes) -> tuple[tuple[str, ...], float, int]:
        """Words of the best path (fillers removed), its score (log units), frames inside words."""
        ps = self.ps
        ps.activate_search(search)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ps.start_stream()  # forget the noise estimate of the last caller: same audio, same answer
        ps.start_utt()
        ps.process_raw(audio16, full_utt=True)
        ps.end_utt()
        hyp = ps.hyp()
        if hyp is None:
            return (), -math.inf, 0
        score = math.log(hyp.score) / self._log_base if hyp.score > 0 else -math.inf
        frames = 0
        for seg in ps.seg() or ():
            if not _is_silence(seg.word):
                frames += seg.end_frame - seg.start_frame + 1
        words = tuple(_base_word(w) for w in hyp.hypstr.split() if not _is_silence(w) and not _is_loop(w))
        return words, score, frames


def _transitions(
    paths: dict[tuple[str, ...], str], prefixes: list[tuple[str, ...]], suffixes: list[tuple[str, ...]]
) -> list[tuple[Any, ...]]:
    """FSG: start(0) -> [carrier prefix] -> (2) -> one phrase -> (3) -> [carrier suffix] -> final(1)."""
    out: list[tuple[Any, ...]] = []
    state = 4

    def chain(src: int, dst: int, words: tuple[str, ...], prob: float) -> None:
        nonlocal state
        prev = src
        for i, word in enumerate(words):
            nxt = dst if i == len(words) - 1 else state
            if nxt == state:
                state += 1
            out.append((prev, nxt, prob if i == 0 else 1.0, word))
            prev = nxt

    for src, dst, carriers in ((0, 2, prefixes), (3, 1, suffixes)):
        out.append((src, dst, 1.0 - CARRIER_PROB if carriers else 1.0))
        for seq in carriers:
            chain(src, dst, seq, CARRIER_PROB / len(carriers))
    for words in paths:
        chain(2, 3, words, 1.0 / len(paths))
    return out


def _is_silence(word: str) -> bool:
    """Silence and noise fillers (and PocketSphinx's empty transitions)."""
    return word.startswith(("<", "[", "+", "(NULL)"))


def _is_loop(word: str) -> bool:
    return word.startswith("_loop_")


def _strip_carriers(words: tuple[str, ...], paths: dict[tuple[str, ...], str]) -> tuple[str, ...]:
    """The phrase inside "I'd like <phrase> please" (the words unchanged when no carrier fits)."""
    if words in paths:
        return words
    heads = {(), *PREFIXES}
    tails = {(), *SUFFIXES}
    for i in range(len(words)):
        if words[:i] not in heads:
            continue
        for j in range(len(words) - i):
            if words[len(words) - j :] in tails if j else True:
                middle = words[i : len(words) - j]
                if middle in paths:
                    return middle
    return words


def _base_word(word: str) -> str:
    return word.split("(", 1)[0]
