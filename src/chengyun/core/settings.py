"""The one typed settings object. Every value can come from a ``CHENGYUN_`` environment variable."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Workspace, stores and engine; built lazily, nothing connects on import."""

    model_config = SettingsConfigDict(env_prefix="CHENGYUN_", extra="ignore")

    workspace: Path = Field(Path("./chengyun-data"), description="folder holding the state DB and the lake")
    database_url: str | None = Field(None, description="SQLAlchemy URL of the state DB; default SQLite in the workspace")
    lake_path: Path | None = Field(None, description="root of the Parquet lake; default <workspace>/lake")
    engine: Literal["duckdb", "spark"] = Field("duckdb", description="analytics engine for measures")
    spark_master: str = Field("local[2]", description="Spark master URL when engine is spark")
    timezone: str = Field("Asia/Shanghai", description="display time zone; storage is always UTC")

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
