"""One generated demo city (scale ``tiny``) shared by the generator tests of this folder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from rich.progress import Progress

from chengyun.core.db import migrate, session_scope
from chengyun.core.settings import Settings
from chengyun.demo.generator import DemoSummary, generate


@dataclass
class DemoCity:
    """A generated workspace, what ``generate`` said about it, and how it was asked."""

    settings: Settings
    summary: DemoSummary
    progress: Progress
    seed: int = 3
    today: date = date(2026, 11, 26)


@pytest.fixture(scope="module")
def demo_city(tmp_path_factory: pytest.TempPathFactory) -> DemoCity:
    """A tiny demo city generated once for the module, with the progress display it reported to."""
    root = tmp_path_factory.mktemp("demo-generator")
    settings = Settings(workspace=root / "ws")
    migrate(settings)
    progress = Progress(disable=True)
    city = DemoCity(settings, None, progress)  # type: ignore[arg-type]
    with session_scope(settings) as session:
        city.summary = generate(settings=settings, session=session, scale="tiny", seed=city.seed, today=city.today,
                                progress=progress)
    return city  # pytest prunes old temporary folders itself; deleting 14 000 files here costs seconds
