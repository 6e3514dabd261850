"""Settings: one pydantic-settings tree, read from ``SWITCHBOARD_<SECTION>_<NAME>`` and an optional YAML file.

Precedence: explicit arguments, then environment variables, then the config file, then the defaults.
Every default works on one machine with no set-up (SQLite under ./var, embedded Redis, loopback ports).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)

from switchboard.errors import UserFacingError, env_name, one_line

ENV_PREFIX = "SWITCHBOARD_"
CONFIG_FILE_ENV = "SWITCHBOARD_CONFIG"
MASK = "********"


class ConfigError(UserFacingError):
    """A configuration problem, worded for the person who has to fix it."""


class _Section(BaseModel):
    """A settings section: unknown keys are errors, so a typo never silently falls back to a default."""

    model_config = ConfigDict(extra="forbid")

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # repr()/str() of settings end up in logs and tracebacks: never with a URL's password.
        for name, value in super().__repr_args__():
            if name and name.endswith("url") and isinstance(value, str):
                value = mask_url_password(value)
            yield name, value


class GeneralSettings(_Section):
    var_dir: Path = Field(Path("var"), description="Directory for the embedded database, Redis and spools")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level")
    log_format: Literal["text", "json"] = Field("text", description="Log line format (key=value or JSON)")


class DatabaseSettings(_Section):
    url: str = Field(
        "", description="postgresql://user:pw@host/db or sqlite:///file; empty: <var_dir>/switchboard.db"
    )
    echo: bool = Field(False, description="Log every SQL statement (debugging only)")


class RedisSettings(_Section):
    url: str = Field("", description="redis:// URL; empty starts an embedded Redis server under <var_dir>")
    connect_timeout: float = Field(5.0, gt=0, description="Seconds to wait when connecting to Redis")


class AmiSettings(_Section):
    host: str = Field("127.0.0.1", description="Asterisk Manager Interface host")
    port: int = Field(5038, ge=1, le=65535, description="AMI TCP port")
    username: str = Field("switchboard", description="AMI user (manager.conf section)")
    secret: SecretStr = Field(SecretStr(""), description="AMI secret (never logged)")
    action_timeout: float = Field(5.0, gt=0, description="Seconds to wait for any AMI action's response")
    connect_timeout: float = Field(5.0, gt=0, description="Seconds to wait for the TCP connect and banner")
    reconnect_initial: float = Field(0.5, gt=0, description="First reconnect delay in seconds")
    reconnect_max: float = Field(30.0, gt=0, description="Cap on the reconnect delay in seconds")
    event_queue_size: int = Field(10_000, ge=10, description="Bounded queue size per event subscriber")


class AgiSettings(_Section):
    host: str = Field("127.0.0.1", description="FastAGI listen address (loopback or a private net only)")
    port: int = Field(4573, ge=0, le=65535, description="FastAGI listen port")
    max_header_bytes: int = Field(65_536, ge=1024, description="Largest AGI environment accepted per call")
    header_timeout: float = Field(5.0, gt=0, description="Seconds a client may take to send its environment")
    command_timeout: float = Field(3600.0, gt=0, description="Seconds to wait for any AGI reply")


class HttpSettings(_Section):
    host: str = Field("127.0.0.1", description="HTTP listen address")
    port: int = Field(8000, ge=0, le=65535, description="HTTP listen port")


DEFAULT_REGION_MAP: dict[str, str] = {
    **dict.fromkeys(("US", "CA", "MX", "BR", "AR", "CL", "CO"), "americas"),
    **dict.fromkeys(("GB", "IE", "FR", "DE", "ES", "IT", "NL", "BE", "CH", "AT", "SE", "NO", "DK", "FI", "PL",
                     "PT", "ZA", "AE", "IL"), "emea"),
    **dict.fromkeys(("JP", "KR", "CN", "HK", "SG", "IN", "AU", "NZ"), "apac"),
}


class IvrSettings(_Section):
    flows_dir: Path = Field(Path("flows"), description="Directory of YAML call flows")
    default_flow: str = Field("main", description="Flow run when the AGI route names none")
    default_queue: str = Field("support", description="Queue a call goes to when a flow fails")
    sounds_dir: Path = Field(Path("var/sounds"), description="Where rendered prompts are written")
    spool_dir: Path = Field(Path("var/spool"), description="Caller recordings as this controller sees them")
    asterisk_spool_dir: str = Field(
        "/var/spool/asterisk/tmp", description="The same directory as Asterisk sees it"
    )
    repeat_window_hours: float = Field(
        24.0, ge=0, description="A caller back within this after 'resolved' skips the script"
    )
    default_skill: str = Field("general", description="Skill of calls a flow hands over without one")
    default_country: str = Field("US", description="Country assumed for caller numbers without +code")
    region_map: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_REGION_MAP),
        description="Caller's country (GB) or E.164 prefix (+1212) to region; key 'default' for the rest",
    )
    flows_poll_seconds: float = Field(2.0, ge=0, description="Seconds between flow file checks (0: never)")


class SpeechSettings(_Section):
    engine: Literal["pocketsphinx", "vosk", "none"] = Field("pocketsphinx", description="Speech engine")
    vosk_model_dir: Path | None = Field(None, description="Directory of a Vosk model (a site's language)")
    workers: int = Field(2, ge=1, le=64, description="Concurrent recognitions (bounded worker pool)")
    deadline: float = Field(0.8, gt=0, description="Seconds a recognition may take before keypad fallback")
    pool: Literal["auto", "thread", "process"] = Field(
        "auto", description="Worker kind; auto: processes for pocketsphinx (holds the GIL), threads for vosk"
    )
    max_waiting: int = Field(4, ge=0, le=1000, description="Recognitions that may wait for a busy worker")
    max_audio_seconds: float = Field(30.0, gt=0, le=600, description="Longest stretch of a recording decoded")
    pocketsphinx_model_dir: Path | None = Field(
        None, description="PocketSphinx model directory; empty: the US English model in the wheel"
    )
    pocketsphinx_noise_snr_db: float = Field(
        22.0, ge=0, le=60, description="Noise floor added under telephone speech before decoding (dB)"
    )
    prompt_voice: str = Field("", description="espeak-ng voice for rendered prompts (empty: by language)")
    prompt_speed: int = Field(150, ge=80, le=400, description="espeak-ng words per minute for prompts")


class AcdSettings(_Section):
    key_prefix: str = Field("sb", description="Prefix of every Redis key (several sites on one Redis)")
    hold_context: str = Field("sb-hold", description="Dialplan context where callers wait")
    connect_context: str = Field("sb-connect", description="Dialplan context that dials an agent")
    fallback_queue: str = Field("support", description="Queue used when a request names an unknown queue")
    config_file: Path | None = Field(None, description="YAML routing configuration imported at start-up")
    stream_maxlen: int = Field(100_000, ge=1000, description="Approximate length of the ACD event stream")
    snapshot_page: int = Field(16, ge=1, le=1024, description="Waiting calls read per queue per decision")
    ring_guard_seconds: float = Field(
        15.0, gt=0, description="Grace after the ring timeout before a still-ringing call is checked"
    )
    repeat_caller_window_seconds: int = Field(
        3600, ge=0, description="A caller back within this many seconds prefers the last agent (0: off)"
    )
    vip_priority_boost: int = Field(
        10, ge=0, le=99, description="Priority added to IVR-flagged VIP calls that are not on the VIP list"
    )
    default_handle_seconds: float = Field(
        180.0, gt=0, description="Handle time assumed for wait estimates before any call was handled"
    )
    callback_channel: str = Field(
        "PJSIP/{number}@carrier", description="Dial string for callbacks ({number} is the caller's number)"
    )
    callback_caller_id: str = Field("Switchboard <1000>", description="Caller ID shown on callbacks")
    callback_key: str = Field("1", description="Key a waiting caller presses to take a callback")
    callback_offer_prompt: str = Field("sb/acd-callback-offer", description="Prompt offering a callback")
    callback_confirm_prompt: str = Field("sb/acd-callback-confirm", description="Prompt confirming callbacks")
    recovery_timeout: float = Field(5.0, gt=0, description="Seconds allowed to rebuild state after a restart")
    short_abandon_seconds: float = Field(
        5.0, ge=0, description="Callers hanging up sooner than this are not counted in service level/abandons"
    )
    metrics_timezone: str = Field("UTC", description="Time zone whose midnight starts the 'today' metrics")
    metrics_recent_minutes: int = Field(
        15, ge=1, le=1440, description="Length of the recent window /metrics reports beside 'today'"
    )
    metrics_sample_seconds: float = Field(
        5.0, gt=0, le=300, description="How often agent states are sampled for occupancy"
    )
    pjsip_include: Path = Field(
        Path("var/asterisk/pjsip_switchboard_agents.conf"),
        description="File `switchboard asterisk pjsip` writes, included by pjsip.conf (/etc/asterisk/...)",
    )
    pjsip_realm: str = Field(
        "switchboard", pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="SIP digest realm agents' phones see"
    )
    pjsip_digest: Literal["password_digest", "md5_cred"] = Field(
        "password_digest",
        description="Hashed secrets: password_digest (SHA-256+MD5, Asterisk >= 20.12/21.7/22.2) or md5_cred",
    )
    pjsip_transport: str = Field(
        "", pattern=r"^[A-Za-z0-9_.-]{0,64}$", description="Transport of agent endpoints (e.g. transport-tls)"
    )
    pjsip_srtp: bool = Field(False, description="Agent endpoints require SRTP (SDES; use with TLS transport)")
    connect_grace_seconds: float = Field(
        10.0, gt=0, description="Seconds before a live controller's unsent assignment may be retaken"
    )
    redis_check_seconds: float = Field(
        1.0, gt=0, description="Seconds between checks that Redis is up and kept its data (rebuild if not)"
    )
    alerts_wait_threshold_seconds: float = Field(
        120.0, ge=0, description="A caller waiting longer than this raises a queue alert (0: off)"
    )
    alerts_service_level_min_calls: int = Field(
        10, ge=1, description="Calls that must count today before a service-level alert can be raised"
    )
    alerts_check_seconds: float = Field(
        5.0, gt=0, le=300, description="Seconds between alert checks when no ACD event arrives"
    )
    alerts_webhook_url: str = Field(
        "", pattern=r"^(https?://\S+)?$", description="Raised and cleared alerts are POSTed here (empty: off)"
    )
    alerts_webhook_secret: SecretStr = Field(
        SecretStr(""), description="Signs alert webhooks (HMAC-SHA256 header); empty: unsigned"
    )
    alerts_webhook_timeout_seconds: float = Field(
        5.0, gt=0, le=60, description="Seconds one alert webhook POST may take"
    )
    alerts_webhook_retries: int = Field(
        3, ge=0, le=10, description="Retries of a failed alert webhook POST (back-off doubling from 1 s)"
    )


class SurveysSettings(_Section):
    enabled: bool = Field(True, description="Schedule and send post-call SMS surveys at all")
    gateway: Literal["log", "kannel", "smpp"] = Field(
        "log", description="SMS gateway: log (outbox table and log only), kannel (HTTP) or smpp"
    )
    sender_id: str = Field(
        "Switchboard", max_length=20, description="Sender of the survey SMS (short code, number or name)"
    )
    company_name: str = Field(
        "Switchboard", max_length=40, description="Text put in the templates' {company} placeholder"
    )
    default_language: str = Field(
        "en", description="Template language used when the call's language has none"
    )
    templates_dir: Path | None = Field(
        None, description="Directory of <language>.yaml templates added to the built-in ones"
    )
    default_region: str = Field(
        "US", min_length=2, max_length=2, description="Country assumed for numbers without one"
    )
    default_timezone: str = Field(
        "UTC", description="Time zone for quiet hours when a number's zone is unknown"
    )
    allowed_countries: list[str] = Field(
        ["US"], description="Country codes that may receive surveys (SMS pumping guard)"
    )
    self_service_outcomes: list[str] = Field(
        [], description="IVR outcomes without an agent that still get a survey"
    )
    delay_minutes: float = Field(5.0, ge=0, description="Minutes after hang-up before the survey is sent")
    quiet_start: str = Field(
        "21:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Quiet hours start (caller's local HH:MM)"
    )
    quiet_end: str = Field(
        "09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Quiet hours end (caller's local HH:MM)"
    )
    min_days_between: float = Field(
        30.0, ge=0, description="At most one survey per number within this many days (0: no limit)"
    )
    prefix_digits: int = Field(
        7,
        ge=2,
        le=15,
        description="Leading digits (with country code) that group numbers for the pumping cap",
    )
    prefix_hourly_cap: int = Field(
        30, ge=1, description="Surveys per number prefix per clock hour; more are skipped"
    )
    reply_window_hours: float = Field(
        72.0, gt=0, description="Replies later than this after sending are kept as unmatched"
    )
    expire_after_hours: float = Field(
        24.0, gt=0, description="A survey still unsent this long after the call is dropped"
    )
    send_timeout: float = Field(10.0, gt=0, description="Seconds to wait for the gateway to accept one SMS")
    max_attempts: int = Field(
        6, ge=1, description="Send attempts (certain failures only) before a survey fails"
    )
    retry_initial: float = Field(
        30.0, gt=0, description="Seconds before the first retry after a gateway failure"
    )
    retry_max: float = Field(600.0, gt=0, description="Cap on the retry delay in seconds")
    uncertain_window: float = Field(
        300.0, gt=0, description="Seconds to await proof of an unanswered send (never resent)"
    )
    batch_size: int = Field(100, ge=1, le=10_000, description="Surveys claimed per sender pass")
    concurrency: int = Field(20, ge=1, le=1000, description="SMS sends in flight at once")
    poll_interval: float = Field(
        2.0, gt=0, description="Seconds between outbox checks for other processes' surveys"
    )
    report_timezone: str = Field("UTC", description="Time zone that defines a day in CSAT results")
    webhook_secret: SecretStr = Field(
        SecretStr(""), description="Secret the gateway presents on webhooks; empty refuses all"
    )
    webhook_allowed_sources: list[str] = Field(
        ["127.0.0.1", "::1"], description="Addresses/networks allowed to call webhooks"
    )
    kannel_sendsms_url: str = Field(
        "http://127.0.0.1:13013/cgi-bin/sendsms", description="Kannel smsbox sendsms URL"
    )
    kannel_username: str = Field("switchboard", description="Kannel sendsms-user username")
    kannel_password: SecretStr = Field(SecretStr(""), description="Kannel sendsms-user password")
    kannel_smsc_id: str = Field(
        "", description="Kannel smsc-id to route surveys through (empty: Kannel decides)"
    )
    kannel_dlr_url: str = Field(
        "http://127.0.0.1:8000/surveys/kannel/dlr",
        description="Our DLR webhook as Kannel reaches it (empty: no reports)",
    )
    kannel_dlr_mask: int = Field(
        19, ge=0, le=31, description="Kannel dlr-mask: 1 delivered, 2 undeliverable, 8 SMSC ack, 16 rejected"
    )
    smpp_host: str = Field("127.0.0.1", description="SMSC host for the smpp gateway")
    smpp_port: int = Field(2775, ge=1, le=65535, description="SMSC port")
    smpp_system_id: str = Field("switchboard", max_length=15, description="SMPP system_id (bind user)")
    smpp_password: SecretStr = Field(SecretStr(""), description="SMPP bind password (at most 8 characters)")
    smpp_system_type: str = Field("", max_length=12, description="SMPP system_type, if the SMSC wants one")
    smpp_enquire_link_interval: float = Field(
        30.0, gt=0, description="Seconds between SMPP enquire_link keep-alives"
    )
    smpp_max_per_second: float = Field(50.0, gt=0, description="Submits per second at most (SMSC throttling)")


class WebSettings(_Section):
    cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", description="Secure cookies; auto: on, except plain http to a loopback http.host (the demo)"
    )
    session_idle_minutes: float = Field(60.0, gt=0, description="A page session unused this long signs out")
    session_max_hours: float = Field(12.0, gt=0, description="A page session ends this long after sign-in")
    login_max_failures: int = Field(
        5, ge=1, description="Failed sign-ins per user name and address before they are refused for a while"
    )
    login_ip_max_failures: int = Field(
        50, ge=1, description="Failed sign-ins per address (any user name) before it is refused for a while"
    )
    login_window_seconds: int = Field(900, ge=1, description="How long failed sign-ins count and lock out")
    password_min_length: int = Field(10, ge=8, le=128, description="Shortest password accepted for a user")
    token_default_days: int = Field(90, ge=1, description="Lifetime of a new API token when none is asked")
    token_max_days: int = Field(365, ge=1, description="Longest lifetime an API token may be given")
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body accepted by any route (413 beyond)"
    )
    allowed_origins: list[str] = Field(
        [], description="Other origins (scheme://host:port) allowed to send signed-in writes"
    )
    redis_key_prefix: str = Field("sb:web", description="Prefix of the Redis keys counting failed sign-ins")


class RecordingsSettings(_Section):
    asterisk_dir: str = Field(
        "/var/spool/asterisk/monitor", description="Where MixMonitor writes recordings, as Asterisk sees it"
    )
    local_dir: Path = Field(
        Path("var/recordings"), description="The same directory as this controller sees it (shared mount)"
    )
    file_template: str = Field(
        "sb-{uniqueid}.wav", description="Recording file in asterisk_dir when MIXMONITOR_FILENAME is unseen"
    )
    separate_legs: bool = Field(
        False, description="MixMonitor also writes r()/t() leg files: transcripts get caller/agent speakers"
    )
    caller_leg_template: str = Field(
        "{stem}-caller.wav", description="Caller leg file (MixMonitor r()); {stem}: mixed path without .ext"
    )
    agent_leg_template: str = Field(
        "{stem}-agent.wav", description="Agent leg file (MixMonitor t()); {stem}: mixed path without .ext"
    )
    engine: Literal["pocketsphinx", "vosk", "none"] = Field(
        "pocketsphinx", description="Transcription engine (none: recordings are kept, not transcribed)"
    )
    vosk_model_dir: Path | None = Field(None, description="Vosk model directory used when engine is vosk")
    workers: int = Field(1, ge=1, le=32, description="Transcriber processes (a bounded pool)")
    max_attempts: int = Field(4, ge=1, description="Attempts per recording before it is failed or missing")
    retry_initial: float = Field(30.0, gt=0, description="Seconds before the first retry of a failed job")
    retry_max: float = Field(1800.0, gt=0, description="Cap on the retry delay in seconds")
    settle_seconds: float = Field(
        2.0, ge=0, description="Wait after hang-up before reading the file (MixMonitor closes it late)"
    )
    job_timeout: float = Field(3600.0, gt=0, description="Longest one transcription may run, in seconds")
    lease_seconds: float = Field(
        7200.0, gt=0, description="Seconds a worker holds a job before another process may take it over"
    )
    poll_interval: float = Field(15.0, gt=0, description="Seconds between checks for jobs queued elsewhere")
    retention_days: int = Field(365, ge=0, description="Days a recording is kept after the call (0: forever)")
    retention_days_by_queue: dict[str, int] = Field(
        {}, description="Retention days per queue, overriding retention_days (0: forever)"
    )
    retention_sweep_interval: float = Field(3600.0, gt=0, description="Seconds between retention sweeps")
    audit_window_seconds: float = Field(
        300.0, ge=0, description="Repeated range requests by one user within this are one audit entry"
    )


class Settings(BaseSettings):
    """The whole configuration tree."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        yaml_file=None,
    )

    general: GeneralSettings = GeneralSettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    ami: AmiSettings = AmiSettings()
    agi: AgiSettings = AgiSettings()
    http: HttpSettings = HttpSettings()
    ivr: IvrSettings = IvrSettings()
    speech: SpeechSettings = SpeechSettings()
    acd: AcdSettings = AcdSettings()
    surveys: SurveysSettings = SurveysSettings()
    recordings: RecordingsSettings = RecordingsSettings()
    web: WebSettings = WebSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls), file_secret_settings)

    @property
    def database_url(self) -> str:
        """The database URL in effect (SQLite under var_dir when none is configured)."""
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.general.var_dir / 'switchboard.db').as_posix()}"


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment and an optional YAML file; raise ConfigError in plain words."""
    _reject_unknown_environment(os.environ)
    path = config_file or os.environ.get(CONFIG_FILE_ENV) or None
    cls: type[Settings] = Settings
    if path is not None:
        path = Path(path)
        _check_config_file(path)
        config = {**Settings.model_config, "yaml_file": path}
        cls = type("FileSettings", (Settings,), {"model_config": config})
    try:
        return cls(**overrides)
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None
    except (SettingsError, OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config: {one_line(str(exc))}") from None


def _check_config_file(path: Path) -> None:
    """The file exists, parses as YAML and is a mapping of known sections."""
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(f"config file {path}{at} is not valid YAML: {problem}") from None
    if data is None:
        return
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of sections (general:, ami:, ...)")
    for section, values in data.items():
        if section not in Settings.model_fields:
            hint = _suggest(str(section), list(Settings.model_fields))
            raise ConfigError(f"config file {path}: unknown section {section!r}{hint}")
        if values is not None and not isinstance(values, dict):
            raise ConfigError(f"config file {path}: section {section!r} must be a mapping of name: value")


def _known_env_names() -> set[str]:
    names = {CONFIG_FILE_ENV}
    for section, field in Settings.model_fields.items():
        names.add(env_name(section))
        section_cls = field.annotation
        assert isinstance(section_cls, type) and issubclass(section_cls, BaseModel)
        names.update(env_name(f"{section}.{name}") for name in section_cls.model_fields)
    return names


def _reject_unknown_environment(environ: Any) -> None:
    """A misspelt SWITCHBOARD_* variable is an error rather than a setting silently left at its default."""
    known = _known_env_names()
    for key in environ:
        name = key.upper()
        if name.startswith(ENV_PREFIX) and name not in known:
            raise ConfigError(f"unknown setting {key} in the environment{_suggest(name, sorted(known))}")


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean {close[0]}?" if close else ""


def _is_secret(section: str, name: str) -> bool:
    section_cls = Settings.model_fields[section].annotation if section in Settings.model_fields else None
    if not isinstance(section_cls, type) or name not in getattr(section_cls, "model_fields", {}):
        return False
    return section_cls.model_fields[name].annotation is SecretStr


def _explain(exc: ValidationError) -> str:
    """The first validation problem in one line: the setting, its variable, the value unless secret."""
    errors = exc.errors()
    first = errors[0]
    loc = [str(p) for p in first["loc"]]
    where = ".".join(loc)
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    if first["type"] == "extra_forbidden":
        return f"unknown setting {where}{more}; `switchboard config show` lists them all"
    secret = len(loc) >= 2 and _is_secret(loc[0], loc[1])
    got = ""
    if not secret and len(loc) >= 2 and "input" in first:
        got = f" (got {one_line(repr(first['input']))[:60]})"
    return f"bad config value {where} ({env_name(where)}): {first['msg']}{got}{more}"


def masked_dump(settings: Settings) -> dict[str, dict[str, str]]:
    """Every setting as text, secrets and URL passwords masked: safe to print or log."""
    out: dict[str, dict[str, str]] = {}
    for row in describe_settings(settings):
        out.setdefault(row.section, {})[row.name] = row.value
    return out


@dataclass(frozen=True)
class SettingRow:
    """One setting as `switchboard config show` prints it."""

    section: str
    name: str
    env: str
    value: str  # masked when secret
    description: str
    secret: bool


def describe_settings(settings: Settings) -> list[SettingRow]:
    """Every setting with its variable name, masked value and one-line description."""
    rows: list[SettingRow] = []
    for section_name in type(settings).model_fields:
        section = getattr(settings, section_name)
        for name, field in type(section).model_fields.items():
            value = getattr(section, name)
            secret = isinstance(value, SecretStr)
            if secret:
                text = MASK if value.get_secret_value() else ""
            elif name.endswith("url") and isinstance(value, str):
                text = mask_url_password(value)
            else:
                text = "" if value is None else str(value)
            rows.append(
                SettingRow(
                    section=section_name,
                    name=name,
                    env=env_name(f"{section_name}.{name}"),
                    value=text,
                    description=field.description or "",
                    secret=secret,
                )
            )
    return rows


def secret_values(settings: Settings) -> list[str]:
    """The plain text of every non-empty secret, for log masking (never print these)."""
    out: list[str] = []
    for section_name in type(settings).model_fields:
        section = getattr(settings, section_name)
        for name in type(section).model_fields:
            value = getattr(section, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                out.append(value.get_secret_value())
    return out


def mask_url_password(url: str) -> str:
    """``scheme://user:pw@host`` -> ``scheme://user:********@host``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, at, host = rest.rpartition("@")
    if ":" in creds:
        user = creds.split(":", 1)[0]
        creds = f"{user}:{MASK}"
    return f"{scheme}://{creds}{at}{host}"
