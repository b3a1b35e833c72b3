"""Every setting and every CLI command is documented (README.md or docs/)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from chengyun.cli.main import app
from chengyun.core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "README.md").read_text(encoding="utf-8") + "".join(
    p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md"))
)


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_setting_is_documented(field: str) -> None:
    assert f"CHENGYUN_{field.upper()}" in DOCS


def _commands() -> list[str]:
    click_app = typer.main.get_command(app)
    out = []
    for name, cmd in click_app.commands.items():  # type: ignore[attr-defined]
        subs = getattr(cmd, "commands", None)
        out.extend(f"chengyun {name} {s}" for s in subs) if subs else out.append(f"chengyun {name}")
    return out


@pytest.mark.parametrize("command", _commands())
def test_command_is_documented(command: str) -> None:
    assert command in DOCS, f"document `{command}` in README.md or docs/"
