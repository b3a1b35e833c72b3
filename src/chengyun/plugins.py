"""The built-in plugin: chengyun's own measures, packs and lake exporters, registered the way a third party registers its own."""

from __future__ import annotations

from pathlib import Path

from chengyun.analytics.registry import Registry


def register(registry: Registry) -> None:
    """Add every built-in measure, the built-in pack folder and every domain's lake exporters."""
    from chengyun.assets.export import EXPORTERS as infra_lake
    from chengyun.assets.measures import MEASURES as infra
    from chengyun.cases.export import EXPORTERS as cases_lake
    from chengyun.cases.measures import MEASURES as cases
    from chengyun.catalog.export import EXPORTERS as data_lake
    from chengyun.catalog.measures import MEASURES as data
    from chengyun.portal.measures import MEASURES as portal
    from chengyun.security.measures import MEASURES as security

    for measure in [*infra, *cases, *data, *portal, *security]:
        registry.add_measure(measure)
    registry.add_pack_dir(Path(__file__).resolve().parent / "indicators" / "packs")
    for exporter in [*cases_lake, *infra_lake, *data_lake]:
        registry.add_exporter(exporter)
