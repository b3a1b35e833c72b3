"""Workspace files are private: what the command line creates is its user's alone (0600 files, 0700 folders), and
a workspace others can read is named, with the fix, when the server starts."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from chengyun.core.files import open_to_others, privacy_warning


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode) for p in [root, *root.rglob("*")]}


def test_the_cli_creates_a_private_workspace(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    env = {**os.environ, "CHENGYUN_DATABASE_URL": ""}
    for args in (["init"], ["ingest", "flush"]):
        subprocess.run([sys.executable, "-m", "chengyun.cli.main", *args, "--workspace", str(ws)], env=env,
                       check=True, capture_output=True, timeout=300)
    modes = _modes(ws)
    assert "chengyun.db" in modes and any(name.startswith("wal") for name in modes)
    shared = {name: oct(m) for name, m in modes.items() if m & 0o077}
    assert shared == {}, shared


def test_a_readable_workspace_is_named_with_the_fix(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "lake" / "cases").mkdir(parents=True)
    for folder in (ws, ws / "lake", ws / "lake" / "cases"):
        folder.chmod(0o700)
    (ws / "chengyun.db").write_bytes(b"x")
    (ws / "chengyun.db").chmod(0o600)
    assert privacy_warning(ws) is None
    (ws / "lake" / "cases" / "part-1.parquet").write_bytes(b"x")
    (ws / "lake" / "cases" / "part-1.parquet").chmod(0o644)
    (ws / "lake").chmod(0o755)
    found, stopped = open_to_others(ws)
    assert sorted(p.name for p in found) == ["lake", "part-1.parquet"] and not stopped
    warning = privacy_warning(ws)
    assert warning is not None and "part-1.parquet" in warning and f"chmod -R go-rwx {ws}" in warning
