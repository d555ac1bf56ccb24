"""Settings: environment variables with the ``STREETBRAIN_`` prefix and an optional TOML file.

Precedence, highest first: explicit keyword arguments, environment variables, the TOML file
(``STREETBRAIN_CONFIG_FILE``, else ``./streetbrain.toml`` when it exists), then defaults.

An invalid value raises :class:`ConfigError` whose message names the environment variable and
what is expected, so the CLI can print one line instead of a traceback.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

ENV_PREFIX = "STREETBRAIN_"
CONFIG_FILE_ENV = "STREETBRAIN_CONFIG_FILE"
DEFAULT_CONFIG_FILE = "streetbrain.toml"
HOUR_MINUTE = r"^([01]\d|2[0-3]):[0-5]\d$"

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


class ConfigError(Exception):
    """A setting is missing or invalid; the message says which one and what to do."""


def env_name(field: str) -> str:
    """Return the environment variable that sets ``field`` (``database_url`` -> ``STREETBRAIN_DATABASE_URL``)."""
    return ENV_PREFIX + field.upper()


def _config_file() -> Path | None:
    explicit = os.environ.get(CONFIG_FILE_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_FILE_ENV}: file {explicit!r} does not exist; point it at a TOML file")
        return path
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


class Settings(BaseSettings):
    """The platform's settings. Plugin settings live in ``plugins`` sections, see :func:`plugin_settings`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True)

    data_dir: Path = Field(default=Path("./var"), description="Folder for the SQLite file, media and keys.")
    database_url: str = Field(
        default="",
        description="sqlite+aiosqlite:///... or postgresql+asyncpg://... (default: SQLite file under data_dir)",
    )
    plugins: Annotated[list[str] | None, NoDecode] = Field(
        default=None, description="Comma list of plugins to enable; unset enables every installed plugin."
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signing and encryption key, 32+ characters; generated under data_dir if unset.",
    )
    timezone: str = Field(default="Asia/Shanghai", description="Calendar time zone for days, weeks and jobs.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    trace_hooks: bool = Field(default=False, description="Log every plugin hook call with its duration.")
    scheduler_enabled: bool = Field(default=True, description="Run scheduled jobs in this process.")
    scheduler_lease_seconds: int = Field(
        default=30, ge=2, le=3600, description="Lease of the active scheduler; a standby takes over within it."
    )
    previous_secret_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Comma list of former secret keys, still used to decrypt (key rotation)."
    )
    access_token_minutes: int = Field(default=30, ge=1, le=24 * 60, description="Lifetime of an access token.")
    refresh_token_days: int = Field(default=7, ge=1, le=90, description="Lifetime of a refresh token.")
    login_max_failures: int = Field(default=5, ge=1, le=100, description="Failed sign-ins in a row before lockout.")
    login_lock_minutes: int = Field(default=15, ge=1, le=24 * 60, description="How long a lockout lasts.")
    login_rate_per_minute: int = Field(default=20, ge=1, le=10_000, description="Sign-in requests per client/minute.")
    max_request_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="Largest request body accepted.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma list of origins allowed to call the API from a browser."
    )
    roles: dict[str, list[str]] = Field(
        default_factory=dict, description="Role -> permission patterns, replacing a default role ([roles] table)."
    )
    work_day_start: str = Field(default="09:00", pattern=HOUR_MINUTE, description="Working hours start (HH:MM).")
    work_day_end: str = Field(default="18:00", pattern=HOUR_MINUTE, description="Working hours end (HH:MM).")
    holidays: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma list of days off (YYYY-MM-DD) that would be working days."
    )
    workdays_extra: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma list of make-up working days (调休) on weekends (YYYY-MM-DD)."
    )
    sla: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per case category: accept_hours, resolve_hours, working_hours ([sla.<category>] tables).",
    )
    routing: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Per event type: create_case, category, severity, auto_dispatch ([routing."<type>"] tables).',
    )
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="Largest case attachment.")
    plugin_config: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-plugin settings: TOML [plugin_config.<name>] tables."
    )
    citybrain_base_url: str | None = Field(
        default=None,
        description="City Brain API root, e.g. http://127.0.0.1:9100 for `streetbrain citybrain-sim`; "
        "unset: nothing is pulled or pushed (pushes wait in the outbox).",
    )
    citybrain_app_key: str | None = Field(default=None, min_length=1, max_length=200, description="City Brain app key.")
    citybrain_app_secret: SecretStr | None = Field(default=None, description="Secret that signs City Brain requests.")
    citybrain_connect_timeout: float = Field(default=5.0, gt=0, le=300, description="Seconds to connect.")
    citybrain_read_timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds to wait for an answer.")
    citybrain_page_size: int = Field(default=500, ge=1, le=5000, description="Records per page.")
    citybrain_commit_records: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="A sync commits its checked pages once they hold this many records (whole pages; 1: every page).",
    )
    citybrain_commit_seconds: float = Field(
        default=1.0, gt=0, le=600, description="...or once the oldest of them was fetched this many seconds ago."
    )
    citybrain_retry_attempts: int = Field(default=8, ge=1, le=50, description="Tries per request, the first included.")
    citybrain_retry_initial_wait: float = Field(default=0.5, ge=0, le=60, description="First backoff, seconds.")
    citybrain_retry_max_wait: float = Field(
        default=30.0, ge=0, le=600, description="Longest backoff, seconds; also caps a Retry-After."
    )
    citybrain_retry_timeout: float = Field(
        default=120.0, gt=0, le=3600, description="Seconds for all tries of a request."
    )
    citybrain_sync_minutes: int = Field(default=15, ge=1, le=24 * 60, description="Minutes between dataset syncs.")
    citybrain_outbox_seconds: int = Field(default=30, ge=1, le=3600, description="Seconds between outbox deliveries.")
    citybrain_outbox_max_attempts: int = Field(
        default=50, ge=1, le=10_000, description="Delivery attempts before an outbox item is dead."
    )
    citybrain_outbox_stuck_minutes: int = Field(
        default=30, ge=1, le=7 * 24 * 60, description="An undelivered outbox item older than this is stuck."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment over TOML file over defaults."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("plugins", mode="before")
    @classmethod
    def _split_plugins(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.strip().lower() == "none":
                return []
            names = [part.strip() for part in value.split(",") if part.strip()]
            return names or None
        return value

    @field_validator("holidays", "workdays_extra")
    @classmethod
    def _check_dates(cls, value: list[str]) -> list[str]:
        for day in value:
            try:
                date.fromisoformat(day)
            except ValueError:
                raise ValueError(f"expected dates as YYYY-MM-DD, got {day!r}") from None
        return value

    @field_validator("previous_secret_keys", "cors_origins", "holidays", "workdays_extra", mode="before")
    @classmethod
    def _split_comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("plugins")
    @classmethod
    def _check_plugin_names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if not name.isidentifier() or name != name.lower():
                raise ValueError(f"expected lower-case plugin names such as waste_sorting, got {name!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected an IANA time zone such as Asia/Shanghai, got {value!r}") from None
        return value

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError(
                "expected at least 32 characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        return normalise_database_url(value) if value else value

    @field_validator("citybrain_base_url")
    @classmethod
    def _check_citybrain_base_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")) or not value.split("//", 1)[1].strip("/"):
            raise ValueError("expected an http(s) URL such as http://127.0.0.1:9100")
        return value.rstrip("/")

    @field_validator("citybrain_app_key", "citybrain_app_secret")
    @classmethod
    def _check_citybrain_credentials(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, SecretStr) and len(value.get_secret_value()) < 8:
            raise ValueError("expected at least 8 characters")
        if value is None and info.data.get("citybrain_base_url"):
            raise ValueError(f"must be set when {env_name('citybrain_base_url')} is")
        return value

    @model_validator(mode="after")
    def _default_database_url(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{(self.data_dir / 'streetbrain.db').as_posix()}"
        return self

    @property
    def url(self) -> URL:
        """The parsed database URL."""
        return make_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite file."""
        return self.url.get_backend_name() == "sqlite"

    @property
    def tz(self) -> ZoneInfo:
        """The calendar time zone."""
        return ZoneInfo(self.timezone)

    def safe_database_url(self) -> str:
        """The database URL with any password hidden, for logs and messages."""
        return self.url.render_as_string(hide_password=True)

    def previous_secret_key_bytes(self) -> tuple[bytes, ...]:
        """Former secret keys, kept to decrypt data written before a rotation."""
        return tuple(key.get_secret_value().encode() for key in self.previous_secret_keys)

    def secret_key_bytes(self) -> bytes:
        """The secret key; when none is configured, one is generated once and kept in ``data_dir/secret.key``."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()


def normalise_database_url(raw: str) -> str:
    """Check a database URL and give it the async driver StreetBrain uses (aiosqlite or asyncpg)."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ValueError(
            f"expected a URL such as postgresql+asyncpg://user@host/db or sqlite+aiosqlite:///var/sb.db, got {raw!r}"
        ) from None
    backend = url.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"expected a sqlite or postgresql URL, got the {backend!r} backend")
    if url.drivername != _ASYNC_DRIVERS[backend]:
        url = url.set(drivername=_ASYNC_DRIVERS[backend])
    return url.render_as_string(hide_password=False)


def _describe(error: Mapping[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ()) if not str(part).isdigit()]
    field = loc[0] if loc else "settings"
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    value = error.get("input")
    shown = "" if isinstance(value, dict) or "secret" in field else f" (got {value!r})"
    return f"{env_name(field)}: {message}{shown}"


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; raise :class:`ConfigError` naming the bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise ConfigError(f"invalid setting: {problems}") from None
    except ValueError as exc:  # e.g. a malformed TOML file or a list that is not a list
        raise ConfigError(f"invalid settings: {exc}") from None


def plugin_settings(settings: Settings, plugin: str, model: type[BaseModel]) -> BaseModel:
    """Validate one plugin's settings from ``[plugin_config.<plugin>]`` and ``STREETBRAIN_<PLUGIN>__<FIELD>``.

    Raises :class:`ConfigError` naming the environment variable of the bad field.
    """
    values: dict[str, Any] = dict(settings.plugin_config.get(plugin, {}))
    prefix = f"{ENV_PREFIX}{plugin.upper()}__"
    for key, value in os.environ.items():
        if key.startswith(prefix):
            values[key.removeprefix(prefix).lower()] = value
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{prefix}{str(err['loc'][0]).upper() if err.get('loc') else ''}: "
            f"{str(err.get('msg', 'invalid value')).removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid setting of plugin {plugin}: {problems}") from None
