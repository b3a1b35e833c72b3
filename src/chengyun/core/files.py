"""Workspace files are private (工作区文件私有): the state DB, the lake, dataset snapshots, uploads and the
write-ahead logs hold identity numbers, phones and addresses, so everything the platform creates is readable by
its own user only (files 0600, folders 0700), and a workspace made readable to others is named at start."""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
_SCAN_LIMIT = 20_000  # entries looked at on start: enough for the top of any lake, quick on a large one
_SHOWN = 5


def make_private() -> None:
    """From now on this process creates files 0600 and folders 0700 (whatever mode a library asks for)."""
    os.umask(PRIVATE_UMASK)


def open_to_others(root: Path, limit: int = _SCAN_LIMIT) -> tuple[list[Path], bool]:
    """Files and folders under ``root`` that group or others may read, write or enter; and whether the scan
    stopped at ``limit`` entries (folders first, breadth first, so the top of the tree is always looked at)."""
    if not root.exists():
        return [], False
    found: list[Path] = []
    queue, seen = [root], 0
    while queue:
        folder = queue.pop(0)
        if _shared(folder):
            found.append(folder)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > limit:
                return found, True
            if entry.is_dir(follow_symlinks=False):
                queue.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False) and _shared(Path(entry.path)):
                found.append(Path(entry.path))
    return found, False


def _shared(path: Path) -> bool:
    try:
        return bool(path.lstat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False


def privacy_warning(root: Path) -> str | None:
    """A warning naming what under the workspace others may read, with the command that fixes it; None if private."""
    found, stopped = open_to_others(root)
    if not found:
        return None
    names = ", ".join(str(p) for p in found[:_SHOWN]) + (f" and {len(found) - _SHOWN} more" if len(found) > _SHOWN
                                                          else "")
    scope = f" (the first {_SCAN_LIMIT:,} entries were checked)" if stopped else ""
    return (f"the workspace {root} holds personal data, but {len(found)} of its files or folders can be read by "
            f"other users of this machine{scope}: {names}; fix: chmod -R go-rwx {root}")
