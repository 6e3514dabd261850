"""Full-text search over transcripts on SQLite FTS5 and PostgreSQL, allow-listed sorting and filtering,
and search input that tries to inject query syntax or SQL."""

from __future__ import annotations

import pytest

from recordings.catalogue import RecordingCatalogue
from recordings.model import RecordingState, Speaker, TranscriptSegment
from recordings.queries import RecordingFilter, RecordingQueries, search_terms
from recordings.store import RecordingStore
from switchboard.clock import ManualClock
from tests.recordings.rec_helpers import finished_recording, with_transcript


def seg(text: str, start: float = 0.0, speaker: Speaker = Speaker.MIXED) -> TranscriptSegment:
    return TranscriptSegment(start, start + 2.0, speaker, text, 0.8)


@pytest.fixture
async def corpus(catalogue: RecordingCatalogue, store: RecordingStore, clock: ManualClock) -> dict[str, str]:
    """Four transcribed calls and one without a transcript."""
    texts = {
        "invoice": [
            seg("hello I have a question about my invoice", 0.5),
            seg("the billing date is wrong", 4.0),
        ],
        "restart": [
            seg("my router needs a restart please", 1.0, Speaker.CALLER),
            seg("sure", 3.0, Speaker.AGENT),
        ],
        "korean": [seg("요금 청구서를 확인하고 싶습니다", 0.2)],
        "xss": [seg("<script>alert('x')</script> \"; DROP TABLE recordings; --", 0.0)],
    }
    ids: dict[str, str] = {}
    for i, (name, segments) in enumerate(texts.items()):
        ids[name] = await finished_recording(
            catalogue, clock, f"10.{i}", agent_id="a1" if name != "restart" else "a2", seconds=10 + i
        )
        await with_transcript(store, clock, ids[name], segments, duration_s=10 + i)
    ids["silent"] = await finished_recording(catalogue, clock, "10.9", agent_id="a1", seconds=99)
    return ids


async def found(queries: RecordingQueries, text: str, **kw) -> set[str]:
    page = await queries.search(RecordingFilter(text=text, **kw), limit=200)
    return {r.id for r in page.items}


async def test_search_finds_the_call_that_mentioned_a_word(queries: RecordingQueries, corpus) -> None:
    assert await found(queries, "invoice") == {corpus["invoice"]}
    assert await found(queries, "Router") == {corpus["restart"]}
    assert await found(queries, "nothing-like-this") == set()


async def test_words_match_as_prefixes_and_all_words_must_occur(queries: RecordingQueries, corpus) -> None:
    assert await found(queries, "bill") == {corpus["invoice"]}
    assert await found(queries, "billing date") == {corpus["invoice"]}
    assert await found(queries, "billing router") == set()


async def test_search_returns_the_matching_segments_with_times(queries: RecordingQueries, corpus) -> None:
    page = await queries.search(RecordingFilter(text="billing"))
    assert page.total == 1
    (hit,) = page.matches[corpus["invoice"]]
    assert hit.text == "the billing date is wrong" and hit.start_s == 4.0


async def test_korean_transcripts_are_searchable(queries: RecordingQueries, corpus) -> None:
    assert await found(queries, "청구서를") == {corpus["korean"]}
    assert await found(queries, "청구") == {corpus["korean"]}


async def test_transcript_text_with_markup_is_stored_and_found_verbatim(
    queries: RecordingQueries, corpus
) -> None:
    assert await found(queries, "script alert") == {corpus["xss"]}
    (segment,) = await queries.transcript(corpus["xss"])
    assert segment.text == "<script>alert('x')</script> \"; DROP TABLE recordings; --"


HOSTILE_SEARCHES = [
    '"', "'", '"unterminated', "NEAR(invoice billing)", "text:invoice", "invoice OR 1=1", "*", "invoice*",
    "'; DROP TABLE recordings; --", "invoice:* & !billing", ")(", "\\", "^invoice", "a" * 200, "\x00invoice",
    "invoice AND", "- invoice", "recording_segments_fts", "{text}: invoice", "%", "_", "invoice\u0301",
]  # fmt: skip


async def test_query_syntax_in_search_text_is_only_ever_words(queries: RecordingQueries, corpus) -> None:
    for hostile in HOSTILE_SEARCHES:
        result = await found(queries, hostile)
        words = search_terms(hostile)
        if not words:
            assert result == set(), hostile
        if words == ["invoice"]:
            assert result == {corpus["invoice"]}, hostile
    assert await found(queries, "invoice") == {corpus["invoice"]}  # the tables are intact


async def test_sort_and_filters_are_allow_listed(queries: RecordingQueries, corpus) -> None:
    with pytest.raises(ValueError, match="unknown sort"):
        await queries.search(RecordingFilter(), sort="started_at; DROP TABLE recordings")
    with pytest.raises(ValueError, match="unknown sort"):
        await queries.search(RecordingFilter(), sort="id")
    page = await queries.search(RecordingFilter(agent_id="a1"), sort="-duration", limit=2)
    assert page.total == 4
    assert [r.id for r in page.items] == [corpus["silent"], corpus["xss"]]
    rest = await queries.search(RecordingFilter(agent_id="a1"), sort="-duration", limit=2, offset=2)
    assert [r.id for r in rest.items] == [corpus["korean"], corpus["invoice"]]
    ready = await queries.search(RecordingFilter(state=RecordingState.READY))
    assert [r.id for r in ready.items] == [corpus["silent"]]
    assert (await queries.search(RecordingFilter(call_id="' OR '1'='1"))).total == 0


async def test_deleted_transcripts_leave_the_search_index(
    queries: RecordingQueries, store: RecordingStore, clock: ManualClock, corpus
) -> None:
    assert await store.mark_deleted(corpus["invoice"], clock.now())
    assert await found(queries, "invoice") == set()
    assert await queries.transcript(corpus["invoice"]) == []
    assert await found(queries, "router") == {corpus["restart"]}
