"""Logging: key=value or JSON lines, secrets and URL passwords masked, no forged lines from caller text."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from switchboard.logging_setup import SecretMaskingFilter, mask_secrets, setup_logging
from switchboard.settings import MASK, load_settings


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[io.StringIO, logging.Logger]]:
    monkeypatch.setenv("SWITCHBOARD_AMI_SECRET", "ami-s3cret")
    stream = io.StringIO()
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    handler = setup_logging(load_settings(), stream=stream)
    try:
        yield stream, logging.getLogger("sbtest.logging")
    finally:
        root.removeHandler(handler)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def test_secret_in_a_log_message_is_masked(captured: tuple[io.StringIO, logging.Logger]) -> None:
    stream, log = captured
    log.warning("ami login failed user=%s secret=%s", "switchboard", "ami-s3cret")
    out = stream.getvalue()
    assert "ami-s3cret" not in out
    assert f"secret={MASK}" in out
    assert "user=switchboard" in out


def test_url_password_in_a_log_message_is_masked(captured: tuple[io.StringIO, logging.Logger]) -> None:
    stream, log = captured
    log.error("cannot connect url=postgresql://sb:db-pw-1@db.example/sb")
    out = stream.getvalue()
    assert "db-pw-1" not in out
    assert f"postgresql://sb:{MASK}@db.example/sb" in out


def test_secret_inside_a_traceback_is_masked(captured: tuple[io.StringIO, logging.Logger]) -> None:
    stream, log = captured
    try:
        raise RuntimeError("login refused for secret ami-s3cret")
    except RuntimeError:
        log.exception("ami error")
    out = stream.getvalue()
    assert "Traceback" in out
    assert "ami-s3cret" not in out


def test_key_value_lines_carry_time_level_logger(captured: tuple[io.StringIO, logging.Logger]) -> None:
    stream, log = captured
    log.info("agi session ended call_id=%s outcome=%s", "01J0000000000000000000000", "resolved")
    line = stream.getvalue().strip()
    assert line.startswith("ts=")
    assert " level=INFO logger=sbtest.logging agi session ended call_id=01J0000000000000000000000" in line


def test_caller_text_with_newlines_cannot_forge_a_log_line(
    captured: tuple[io.StringIO, logging.Logger],
) -> None:
    stream, log = captured
    log.info("caller callerid=%s", "123\nts=2026 level=ERROR logger=acd fake")
    assert len(stream.getvalue().splitlines()) == 1


def test_json_format_puts_key_value_pairs_in_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_GENERAL_LOG_FORMAT", "json")
    monkeypatch.setenv("SWITCHBOARD_AMI_SECRET", "ami-s3cret")
    stream = io.StringIO()
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    handler = setup_logging(load_settings(), stream=stream)
    try:
        logging.getLogger("sbtest.json").info(
            'call queued call_id=C1 queue=billing note="two words" s=ami-s3cret'
        )
    finally:
        root.removeHandler(handler)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    record = json.loads(stream.getvalue())
    assert record["level"] == "INFO"
    assert record["logger"] == "sbtest.json"
    assert record["call_id"] == "C1"
    assert record["queue"] == "billing"
    assert record["note"] == "two words"
    assert record["s"] == MASK


def test_setup_logging_twice_keeps_one_handler(captured: tuple[io.StringIO, logging.Logger]) -> None:
    stream, log = captured
    second = setup_logging(load_settings(), stream=stream)
    try:
        log.warning("once")
        assert stream.getvalue().count("once") == 1
    finally:
        logging.getLogger().removeHandler(second)


def test_short_secrets_are_not_used_for_masking() -> None:
    # A one-letter secret would mask every "a" in every line; URL passwords are still masked.
    assert mask_secrets("a call arrived", ["a"]) == "a call arrived"
    assert mask_secrets("redis://:a@h", ["a"]) == f"redis://:{MASK}@h"


def test_filter_survives_bad_format_arguments() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s %s", ("only-one",), None)
    assert SecretMaskingFilter(["secret"]).filter(record) is True


def _pool_error(exc: BaseException) -> None:
    try:
        raise exc
    except BaseException:
        logging.getLogger("sqlalchemy.pool.impl.AsyncAdaptedQueuePool").error(
            "Exception during reset or similar", exc_info=True
        )


def test_a_rollback_interrupted_by_shutdown_is_one_warning_line(
    captured: tuple[io.StringIO, logging.Logger],
) -> None:
    import asyncio

    stream, _ = captured
    _pool_error(asyncio.CancelledError())
    out = stream.getvalue()
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1
    assert "level=WARNING" in out and "database connection discarded" in out


def test_other_pool_errors_keep_their_traceback(captured: tuple[io.StringIO, logging.Logger]) -> None:
    stream, _ = captured
    _pool_error(ConnectionResetError("server closed the connection"))
    out = stream.getvalue()
    assert "level=ERROR" in out and "Traceback" in out and "ConnectionResetError" in out
