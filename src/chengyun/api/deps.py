"""Request dependencies as named aliases: ``SettingsDep`` and ``SessionDep`` (a state DB session per request)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from chengyun.core.db import transaction
from chengyun.core.settings import Settings


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A session that commits when the view returns and rolls back when it raises."""
    factory: sessionmaker[Session] | None = getattr(request.app.state, "session_factory", None)
    if factory is None:  # the lifespan did not run (a TestClient used without ``with``)
        raise RuntimeError("the app has not started: run it under uvicorn, or use `with TestClient(app)`")
    with transaction(factory) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
# scope="function": the commit happens before the response is sent, so a failed commit is an error response.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
