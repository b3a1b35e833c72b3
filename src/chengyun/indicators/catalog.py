"""The packs this installation knows: every ``*.yaml`` in the registered pack folders, validated."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from chengyun.analytics.registry import get_registry
from chengyun.core.errors import Conflict, NotFound
from chengyun.indicators.models import InstalledPack
from chengyun.indicators.pack import Pack, load_pack_file

_CACHE: dict[str, Pack] | None = None


def available_packs() -> dict[str, Pack]:
    """Every registered pack by id (validated against the registered measures)."""
    global _CACHE
    if _CACHE is None:
        reg = get_registry()
        names = set(reg.measures)
        packs: dict[str, Pack] = {}
        for folder in reg.pack_dirs:
            for path in sorted(Path(folder).glob("*.yaml")):
                pack = load_pack_file(path, names)
                if pack.id in packs:
                    raise Conflict(f"pack id {pack.id!r} is defined twice: {packs[pack.id].source} and {path}",
                                   fix="give one of the two packs another id")
                packs[pack.id] = pack
        _CACHE = packs
    return _CACHE


def get_pack(pack_id: str) -> Pack:
    """The pack with this id, or an error listing the known ones."""
    packs = available_packs()
    if pack_id not in packs:
        raise NotFound(f"pack {pack_id!r} is not installed", fix=f"use one of: {', '.join(sorted(packs)) or '(none)'}")
    return packs[pack_id]


def install(*, session: Session, pack: Pack) -> InstalledPack:
    """Record the pack (and its version and content hash) as installed in this workspace."""
    row = session.get(InstalledPack, pack.id)
    if row is None:
        row = InstalledPack(id=pack.id)
        session.add(row)
    row.version, row.title, row.source, row.sha256 = pack.version, pack.title, pack.source, pack.sha256
    session.flush()
    return row
