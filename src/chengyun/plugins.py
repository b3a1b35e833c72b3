"""The built-in plugin: chengyun's own measures and packs, registered the way a third party registers its own."""

from __future__ import annotations

from pathlib import Path

from chengyun.analytics.registry import Registry


def register(registry: Registry) -> None:
    """Add every built-in measure and the built-in pack folder."""
    from chengyun.assets.measures import MEASURES as infra
    from chengyun.cases.measures import MEASURES as cases
    from chengyun.catalog.measures import MEASURES as data
    from chengyun.portal.measures import MEASURES as portal
    from chengyun.security.measures import MEASURES as security

    for measure in [*infra, *cases, *data, *portal, *security]:
        registry.add_measure(measure)
    registry.add_pack_dir(Path(__file__).resolve().parent / "indicators" / "packs")
