"""The packs this installation knows: every ``*.yaml`` in the registered pack folders, validated."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from chengyun.analytics.registry import get_registry
from chengyun.core.errors import Conflict, NotFound, PackError
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
        broken: list[tuple[Path, PackError]] = []
        for folder in reg.pack_dirs:
            for path in sorted(Path(folder).glob("*.yaml")):
                try:
                    pack = load_pack_file(path, names)
                except PackError as exc:
                    broken.append((path, exc))  # keep going: one report names every broken installed pack
                    continue
                if pack.id in packs:
                    raise Conflict(f"pack id {pack.id!r} is defined twice: {packs[pack.id].source} and {path}",
                                   fix="give one of the two packs another id")
                packs[pack.id] = pack
        if broken:
            raise _installed_error(broken)
        _CACHE = packs
    return _CACHE


def _installed_error(broken: list[tuple[Path, PackError]]) -> PackError:
    """One error for every installed pack file that fails validation, with each file's problems."""
    details = [d for _path, exc in broken for d in (exc.details or [exc.message])]
    names = ", ".join(str(path) for path, _exc in broken)
    return PackError(f"{len(broken)} installed pack file(s) fail validation: {names}", details=details,
                     fix="fix or remove each file (`chengyun packs validate FILE` checks one); "
                         "a plugin's pack is fixed in that plugin's package")


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
