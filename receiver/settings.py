"""Every knob vodhook has, read from VODHOOK_* environment variables and an optional TOML file.

pydantic-settings does the parsing so that each setting has one typed definition, one default
and one docstring; the README's settings table is written from this file.
Precedence: explicit keyword arguments > environment > TOML file > defaults.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

_TOML_PATH: ContextVar[str | None] = ContextVar("vodhook_toml_path", default=None)

CommaList = Annotated[list[str], NoDecode]


def _split_commas(value: Any) -> Any:
    """Env vars hold comma-separated lists; TOML already gives lists."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ChainSettings(BaseModel):
    """One `[[chains]]` table: which handlers run, in order, for which events."""

    model_config = ConfigDict(extra="forbid")

    on: list[str] = Field(description="Event types this chain runs for ('*' for all).")
    status: str | None = Field(None, description="Only events with this status (success/fail).")
    run: list[str | dict[str, Any]] = Field(
        description="Handler names, or tables {handler = 'name', option = value}."
    )


class Settings(BaseSettings):
    """vodhook's configuration. Field docs double as the README's settings reference."""

    model_config = SettingsConfigDict(
        env_prefix="VODHOOK_", extra="ignore", populate_by_name=True, validate_default=True
    )

    # --- intake ---------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address `vodhook serve` binds to.")
    port: int = Field(8000, description="Port `vodhook serve` listens on.")
    callback_path: str = Field("/callback", description="Path VOD POSTs events to.")
    callback_urls: CommaList = Field(
        default_factory=list,
        description="Exact callback URL strings VOD signs (comma-separated). "
        "Empty: the URL as received.",
    )
    auth: Literal["on", "off"] = Field(
        "on", description="'off' accepts unsigned callbacks (development only; warns at start)."
    )
    auth_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="VOD AuthKeys accepted, comma-separated; several at once for rotation.",
    )
    auth_window: int = Field(
        300, ge=1, description="Seconds X-VOD-TIMESTAMP may differ from now, either way."
    )
    max_body_bytes: int = Field(65536, ge=1024, description="Larger callback bodies get 413.")

    # --- store ------------------------------------------------------------------------------
    database_url: str = Field("sqlite:///vodhook.db", description="Where events are kept.")
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        "FULL",
        description="FULL survives power loss; NORMAL survives process crashes only "
        "but commits faster.",
    )
    commit_thread: bool = Field(
        False,
        description="Run each COMMIT (where SQLite waits for the disk) on a thread, the "
        "writes themselves staying on the event loop: for storage whose fsync is slow "
        "(network disks); slower on a local disk (see bench/).",
    )
    commit_max_batch: int = Field(
        256, ge=1, description="Most writes committed in one group commit."
    )

    # --- dispatch ---------------------------------------------------------------------------
    workers: int = Field(8, ge=1, description="Most events processed at once (distinct media).")
    max_attempts: int = Field(8, ge=1, description="Attempts before an event goes dead.")
    max_age: float = Field(
        86400.0, gt=0, description="Seconds after receipt when a failing event goes dead."
    )
    retry_base: float = Field(2.0, gt=0, description="First retry delay in seconds (doubles).")
    retry_cap: float = Field(600.0, gt=0, description="Longest retry delay in seconds.")
    handler_timeout: float = Field(
        60.0, gt=0, description="Seconds one handler may run before it counts as failed."
    )
    lease_seconds: float = Field(
        30.0,
        gt=0,
        description="A claimed event whose worker vanished is retried after this "
        "many seconds (leases of running events are renewed).",
    )
    poll_interval: float = Field(
        0.05, gt=0, description="Seconds between dispatcher wake-ups; batches new work."
    )
    plugins: CommaList = Field(
        default_factory=list, description="Extra routers to load, as `module:attribute`."
    )
    disable_handlers: CommaList = Field(
        default_factory=list, description="Route names not to run, e.g. `log`."
    )
    builtin_handlers: bool = Field(
        True, description="Load the `vodhook.handlers` entry points (built-in handlers)."
    )
    chains: list[ChainSettings] = Field(
        default_factory=list, description="Handler chains (TOML only); see README."
    )

    # --- MNS source -------------------------------------------------------------------------
    mns_endpoint: str | None = Field(None, description="MNS endpoint, e.g. http://1234.mns...")
    mns_queue: str | None = Field(None, description="MNS queue VOD writes events into.")
    mns_pollers: int = Field(1, ge=1, description="Poller worker processes (one SDK Account each).")
    mns_wait_seconds: int = Field(
        10, ge=1, le=30, description="Long-poll wait per receive call (1-30 s)."
    )
    mns_batch_size: int = Field(16, ge=1, le=16, description="Messages per batch receive.")

    # --- VOD API ----------------------------------------------------------------------------
    vod_region: str = Field("cn-shanghai", description="VOD API region.")
    vod_endpoint: str | None = Field(
        None, description="Override the VOD API endpoint, e.g. http://127.0.0.1:9001."
    )
    vod_qps: dict[str, float] = Field(
        default_factory=dict, description="Per-action QPS overrides, e.g. {GetPlayInfo = 100}."
    )

    # --- cloud credentials (standard Alibaba Cloud variable names, no VODHOOK_ prefix) --------
    access_key_id: str | None = Field(
        None,
        validation_alias=AliasChoices("ALIBABA_CLOUD_ACCESS_KEY_ID", "access_key_id"),
        description="AccessKey ID for the VOD API and MNS (else the default credential chain).",
    )
    access_key_secret: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "access_key_secret"),
        description="AccessKey secret; never logged or stored.",
    )
    security_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("ALIBABA_CLOUD_SECURITY_TOKEN", "security_token"),
        description="STS token, when the AccessKey is temporary; never logged or stored.",
    )

    # --- logs -------------------------------------------------------------------------------
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="'auto': JSON lines unless stdout is a terminal."
    )

    config_file: Path | None = Field(
        None,
        validation_alias=AliasChoices("VODHOOK_CONFIG", "config_file"),
        description="TOML file read for settings (or pass --config).",
    )

    _split = field_validator(
        "callback_urls", "plugins", "auth_keys", "disable_handlers", mode="before"
    )(_split_commas)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = _TOML_PATH.get() or os.environ.get("VODHOOK_CONFIG")
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    def secrets(self) -> list[str]:
        """Every secret value, so that the log redactor can scrub them wherever they appear."""
        values = [key.get_secret_value() for key in self.auth_keys]
        for secret in (self.access_key_secret, self.security_token):
            if secret is not None:
                values.append(secret.get_secret_value())
        return [v for v in values if v]


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build settings, failing with a readable message when the TOML file is missing."""
    path = Path(config_file) if config_file else None
    if path is None and os.environ.get("VODHOOK_CONFIG"):
        path = Path(os.environ["VODHOOK_CONFIG"])
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    # A context variable carries the path into settings_customise_sources, which pydantic
    # calls as a classmethod and so cannot take arguments of ours.
    token = _TOML_PATH.set(str(path) if path else None)
    try:
        return Settings(**overrides, config_file=path)
    finally:
        _TOML_PATH.reset(token)
