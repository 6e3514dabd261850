"""Settings: one pydantic-settings tree, read from ``SWITCHBOARD_<SECTION>_<NAME>`` and an optional YAML file.

Precedence: explicit arguments, then environment variables, then the config file, then the defaults.
Every default works on one machine with no set-up (SQLite under ./var, embedded Redis, loopback ports).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


class ConfigError(Exception):
    """A configuration problem, worded for the person who has to fix it."""


class GeneralSettings(BaseModel):
    var_dir: Path = Field(Path("var"), description="Directory for the embedded database, Redis and spools")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level")
    log_format: Literal["text", "json"] = Field("text", description="Log line format (key=value or JSON)")


class DatabaseSettings(BaseModel):
    url: str = Field("", description="SQLAlchemy async URL; empty means SQLite at <var_dir>/switchboard.db")
    echo: bool = Field(False, description="Log every SQL statement (debugging only)")


class RedisSettings(BaseModel):
    url: str = Field("", description="redis:// URL; empty starts an embedded Redis server under <var_dir>")


class AmiSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Asterisk Manager Interface host")
    port: int = Field(5038, ge=1, le=65535, description="AMI TCP port")
    username: str = Field("switchboard", description="AMI user (manager.conf section)")
    secret: SecretStr = Field(SecretStr(""), description="AMI secret (never logged)")
    action_timeout: float = Field(5.0, gt=0, description="Seconds to wait for any AMI action's response")
    connect_timeout: float = Field(5.0, gt=0, description="Seconds to wait for the TCP connect and banner")
    reconnect_initial: float = Field(0.5, gt=0, description="First reconnect delay in seconds")
    reconnect_max: float = Field(30.0, gt=0, description="Cap on the reconnect delay in seconds")
    event_queue_size: int = Field(10_000, ge=10, description="Bounded queue size per event subscriber")


class AgiSettings(BaseModel):
    host: str = Field("127.0.0.1", description="FastAGI listen address (keep it on loopback or a private net)")
    port: int = Field(4573, ge=0, le=65535, description="FastAGI listen port")
    max_header_bytes: int = Field(65_536, ge=1024, description="Largest AGI environment accepted per call")
    header_timeout: float = Field(5.0, gt=0, description="Seconds a client may take to send its environment")
    command_timeout: float = Field(3600.0, gt=0, description="Seconds to wait for any AGI reply")


class HttpSettings(BaseModel):
    host: str = Field("127.0.0.1", description="HTTP listen address")
    port: int = Field(8000, ge=0, le=65535, description="HTTP listen port")


class IvrSettings(BaseModel):
    flows_dir: Path = Field(Path("flows"), description="Directory of YAML call flows")
    default_flow: str = Field("main", description="Flow run when the AGI route names none")
    default_queue: str = Field("support", description="Queue a call goes to when a flow fails")
    sounds_dir: Path = Field(Path("var/sounds"), description="Where rendered prompts are written")
    spool_dir: Path = Field(Path("var/spool"), description="Caller recordings as this controller sees them")
    asterisk_spool_dir: str = Field("/var/spool/asterisk/tmp", description="The same directory as Asterisk sees it")
    repeat_window_hours: float = Field(24.0, ge=0, description="A caller back within this after 'resolved' skips the script")


class SpeechSettings(BaseModel):
    engine: Literal["pocketsphinx", "vosk", "none"] = Field("pocketsphinx", description="Speech engine")
    vosk_model_dir: Path | None = Field(None, description="Directory of a Vosk model (a site's language)")
    workers: int = Field(2, ge=1, description="Concurrent recognitions (bounded worker pool)")
    deadline: float = Field(0.8, gt=0, description="Seconds a recognition may take before keypad fallback")


class AcdSettings(BaseModel):
    key_prefix: str = Field("sb", description="Prefix of every Redis key (several sites on one Redis)")
    hold_context: str = Field("sb-hold", description="Dialplan context where callers wait")
    connect_context: str = Field("sb-connect", description="Dialplan context that dials an agent")


class Settings(BaseSettings):
    """The whole configuration tree."""

    model_config = SettingsConfigDict(
        env_prefix="SWITCHBOARD_",
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
    path = config_file or os.environ.get("SWITCHBOARD_CONFIG") or None
    cls: type[Settings] = Settings
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        cls = type("FileSettings", (Settings,), {"model_config": {**Settings.model_config, "yaml_file": path}})
    try:
        return cls(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"bad config value {where}: {first['msg']}") from None
    except (OSError, ValueError) as exc:  # YAML syntax errors surface as ValueError subclasses
        raise ConfigError(f"cannot read config: {exc}") from None


def masked_dump(settings: Settings) -> dict[str, dict[str, str]]:
    """Every setting as text, secrets and URL passwords masked: safe to print or log."""
    out: dict[str, dict[str, str]] = {}
    for section_name in type(settings).model_fields:
        section = getattr(settings, section_name)
        values: dict[str, str] = {}
        for name in type(section).model_fields:
            value = getattr(section, name)
            if isinstance(value, SecretStr):
                text = "********" if value.get_secret_value() else ""
            elif name == "url" and isinstance(value, str):
                text = mask_url_password(value)
            else:
                text = "" if value is None else str(value)
            values[name] = text
        out[section_name] = values
    return out


def mask_url_password(url: str) -> str:
    """``scheme://user:pw@host`` -> ``scheme://user:***@host``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, at, host = rest.rpartition("@")
    if ":" in creds:
        user = creds.split(":", 1)[0]
        creds = f"{user}:***"
    return f"{scheme}://{creds}{at}{host}"
