"""The one typed settings object. Every value can come from a ``CHENGYUN_`` environment variable."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FILE = "secret.key"


class Settings(BaseSettings):
    """Workspace, stores and engine; built lazily, nothing connects on import."""

    model_config = SettingsConfigDict(env_prefix="CHENGYUN_", extra="ignore")

    workspace: Path = Field(Path("./chengyun-data"), description="folder holding the state DB and the lake")
    database_url: str | None = Field(None, description="SQLAlchemy URL of the state DB; default SQLite in the workspace")
    lake_path: Path | None = Field(None, description="root of the Parquet lake; default <workspace>/lake")
    engine: Literal["duckdb", "spark"] = Field("duckdb", description="analytics engine for measures")
    spark_master: str = Field("local[2]", description="Spark master URL when engine is spark")
    duckdb_memory_limit: str = Field(
        "2.5GB", pattern=r"^(|[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB))$",
        description="memory one DuckDB query may hold before it spills to <workspace>/tmp/duckdb (e.g. 2.5GB); "
        "the process peaks about 0.8 GB above it; empty: DuckDB's own default, 80 % of the machine's RAM for every "
        "engine opened",
    )
    timezone: str = Field("Asia/Shanghai", description="display time zone; storage is always UTC")
    secret_key: str | None = Field(
        None,
        description="secret for CSRF tokens and keyed hashes (at least 32 characters); required when serving "
        "beyond 127.0.0.1, else generated once into <workspace>/secret.key",
        repr=False,
    )
    session_hours: float = Field(12, gt=0, description="lifetime of a console login session, in hours")
    access_token_hours: float = Field(8, gt=0, description="lifetime of a token from POST /api/v1/auth/token")
    token_max_days: int = Field(
        90, ge=1, le=3650, description="longest life of a machine token a logged-in user makes for themself "
        "(POST /api/v1/tokens); `chengyun tokens create` on the server is not bound by it"
    )
    login_max_failures: int = Field(
        5, ge=1, description="failed logins in a row for one user name from one client address before that pair "
        "has to wait (30 s, doubling with each further failure); no account is ever locked"
    )
    login_lockout_minutes: float = Field(
        15, gt=0, description="longest wait for one user name from one client address after repeated failures"
    )
    forwarded_allow_ips: str = Field(
        "", description="comma-separated addresses or networks of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; empty: none, the client address is the connection's"
    )
    cookie_secure: bool = Field(False, description="mark the session cookie Secure (set it behind HTTPS)")
    case_tick_minutes: float = Field(
        5, ge=0, description="how often the server runs the case SLA tick (breaches, escalation); 0: never "
        "(then run `chengyun cases tick` from cron)"
    )
    alarm_sweep_minutes: float = Field(
        1, ge=0, description="how often the server looks for assets that stopped reporting (absence alarms, offline "
        "status); 0: never (then run `chengyun alarms sweep` from cron)"
    )
    mqtt_url: str | None = Field(
        None, description="MQTT broker the server subscribes to for telemetry (mqtt://host:1883); none: the server "
        "takes telemetry over HTTP and NGSI-LD only (`chengyun ingest mqtt` can run on its own)"
    )
    ingest_flush_seconds: float = Field(
        2.0, gt=0, description="how long accepted telemetry may wait in the write-ahead log before it is moved "
        "into the lake (it is durable either way)"
    )
    max_body_kb: int = Field(
        1024, ge=1, description="largest request body of the API and the console, in KiB (JSON, forms, YAML); "
        "larger bodies are refused with 413 before they are read"
    )
    upload_max_mb: int = Field(
        512, ge=1, description="largest data upload (PUT /api/v1/datasets/{id}/data), in MiB, streamed to disk; "
        "larger datasets load from a database with `chengyun datasets add`"
    )
    ingest_max_future_seconds: float = Field(
        300, ge=0, description="how far after its arrival a reading may be dated (device clocks run ahead); later "
        "readings are put aside in the quarantine"
    )
    ingest_earliest: date = Field(
        date(2000, 1, 1), description="readings dated before this day are put aside in the quarantine"
    )

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: str) -> str:
        """Every entry an address or a network: a typo would otherwise match nobody, without a word."""
        import ipaddress

        for item in (part.strip() for part in value.split(",")):
            if not item or item == "*":
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"CHENGYUN_FORWARDED_ALLOW_IPS: {item!r} is not an address or a network; use e.g. "
                                 "10.0.0.5 or 10.0.0.0/24, comma-separated (the reverse proxies' own addresses)"
                                 ) from None
        return value

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        self.workspace = Path(self.workspace).expanduser().resolve()
        if self.lake_path is None:
            self.lake_path = self.workspace / "lake"
        if not self.database_url:
            self.database_url = f"sqlite:///{self.workspace / 'chengyun.db'}"
        return self

    @property
    def lake(self) -> Path:
        """The lake root as a path (always set after validation)."""
        assert self.lake_path is not None
        return Path(self.lake_path)

    def secret(self) -> str:
        """The secret key: the setting, else one generated on first use into ``<workspace>/secret.key``."""
        if self.secret_key:
            return self.secret_key
        path = self.workspace / SECRET_FILE
        if not path.exists():
            import secrets

            self.workspace.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_urlsafe(48))
        return path.read_text().strip()

    @property
    def spill_path(self) -> Path:
        """Where DuckDB writes what does not fit in ``duckdb_memory_limit`` (made when an engine opens)."""
        return self.workspace / "tmp" / "duckdb"

    @property
    def db_url(self) -> str:
        """The state DB URL (always set after validation)."""
        assert self.database_url is not None
        return self.database_url


def get_settings(workspace: str | Path | None = None, engine: str | None = None) -> Settings:
    """Settings from the environment, with an explicit workspace or engine taking precedence."""
    kwargs: dict[str, object] = {}
    if workspace:
        kwargs["workspace"] = Path(workspace)
    if engine:
        kwargs["engine"] = engine
    return Settings(**kwargs)  # type: ignore[arg-type]


SETTINGS_DOC = {name: field.description for name, field in Settings.model_fields.items()}
