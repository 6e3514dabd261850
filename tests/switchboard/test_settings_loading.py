"""Settings: defaults that need no set-up, environment over file over defaults, one-line errors, masking."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.settings import (
    MASK,
    ConfigError,
    describe_settings,
    load_settings,
    mask_url_password,
    masked_dump,
    secret_values,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_run_on_one_machine_without_any_setup() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///var/switchboard.db"
    assert settings.redis.url == ""  # embedded Redis
    assert (settings.agi.host, settings.agi.port) == ("127.0.0.1", 4573)
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 8000)
    assert (settings.ami.host, settings.ami.port, settings.ami.username) == ("127.0.0.1", 5038, "switchboard")


def test_config_file_overrides_defaults_and_environment_overrides_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(
        tmp_path / "switchboard.yaml",
        "ami:\n  host: pbx.example\n  port: 5039\nagi:\n  port: 4600\ngeneral:\n  log_level: DEBUG\n",
    )
    monkeypatch.setenv("SWITCHBOARD_AMI_PORT", "6000")
    monkeypatch.setenv("SWITCHBOARD_GENERAL_VAR_DIR", "/srv/sb")
    settings = load_settings(config)
    assert settings.ami.host == "pbx.example"  # file, same section as an env override: merged, not replaced
    assert settings.ami.port == 6000  # env beats file
    assert settings.agi.port == 4600  # file beats default
    assert settings.general.log_level == "DEBUG"
    assert settings.general.var_dir == Path("/srv/sb")
    assert settings.database_url == "sqlite+aiosqlite:////srv/sb/switchboard.db"


def test_explicit_arguments_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_HTTP_PORT", "9000")
    assert load_settings(http={"port": 9100}).http.port == 9100


def test_switchboard_config_variable_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "site.yaml", "http:\n  port: 8081\n")
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(config))
    assert load_settings().http.port == 8081


def test_environment_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("switchboard_agi_port", "4999")
    assert load_settings().agi.port == 4999


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("SWITCHBOARD_AGI_PORT", "abc", "bad config value agi.port (SWITCHBOARD_AGI_PORT)"),
        ("SWITCHBOARD_HTTP_PORT", "70000", "bad config value http.port (SWITCHBOARD_HTTP_PORT)"),
        ("SWITCHBOARD_GENERAL_LOG_LEVEL", "LOUD", "bad config value general.log_level"),
        ("SWITCHBOARD_AMI_SECERT", "x", "did you mean SWITCHBOARD_AMI_SECRET?"),
        ("SWITCHBOARD_AMI", "{not json", "cannot read config"),
    ],
)
def test_bad_environment_value_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ami:\n  hots: pbx\n", "unknown setting ami.hots"),
        ("amy:\n  host: pbx\n", "unknown section 'amy'; did you mean ami?"),
        ("ami: [\n  x\n", "is not valid YAML"),
        ("- ami\n- agi\n", "must be a mapping of sections"),
        ("ami: pbx.example\n", "section 'ami' must be a mapping"),
        ("agi:\n  port: -1\n", "bad config value agi.port"),
    ],
)
def test_bad_config_file_is_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    config = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_empty_config_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path / "empty.yaml", "")).agi.port == 4573


def test_bad_secret_value_is_reported_without_echoing_it(tmp_path: Path) -> None:
    config = write(tmp_path / "s.yaml", "ami:\n  secret: [hunter2-very-secret]\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert "ami.secret" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_secrets_and_url_passwords_are_masked_everywhere_they_are_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWITCHBOARD_AMI_SECRET", "s3cret-ami")
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", "postgresql://sb:db-pass-99@db.example/sb")
    monkeypatch.setenv("SWITCHBOARD_REDIS_URL", "redis://:redis-pass-77@cache.example:6379/0")
    settings = load_settings()
    shown = " ".join(
        [repr(settings), str(settings), str(masked_dump(settings)), str(describe_settings(settings))]
    )
    for secret in ("s3cret-ami", "db-pass-99", "redis-pass-77"):
        assert secret not in shown
    dump = masked_dump(settings)
    assert dump["ami"]["secret"] == MASK
    assert dump["database"]["url"] == f"postgresql://sb:{MASK}@db.example/sb"
    assert dump["redis"]["url"] == f"redis://:{MASK}@cache.example:6379/0"
    assert settings.ami.secret.get_secret_value() == "s3cret-ami"  # still usable by the AMI client
    assert secret_values(settings) == ["s3cret-ami"]


def test_unset_secret_shows_empty_not_mask() -> None:
    assert masked_dump(load_settings())["ami"]["secret"] == ""


def test_every_setting_has_a_description_and_its_variable_name() -> None:
    rows = describe_settings(load_settings())
    assert len(rows) > 30
    for row in rows:
        assert row.description, f"{row.section}.{row.name} has no description"
        assert row.env == f"SWITCHBOARD_{row.section.upper()}_{row.name.upper()}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h/db", f"postgresql://u:{MASK}@h/db"),
        ("redis://:p@h:6379/0", f"redis://:{MASK}@h:6379/0"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite+aiosqlite:///var/x.db", "sqlite+aiosqlite:///var/x.db"),
        ("", ""),
    ],
)
def test_mask_url_password(url: str, expected: str) -> None:
    assert mask_url_password(url) == expected
