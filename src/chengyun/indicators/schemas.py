"""API schemas of packs (指标体系) and evaluation runs (评价), one ladder per resource."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from chengyun.core.errors import InvalidInput
from chengyun.core.periods import parse_period
from chengyun.indicators.pack import Node, Pack

# ---- evaluation runs: EvaluationBase → EvaluationCreate → EvaluationRead → EvaluationPage ---------------------


class EvaluationBase(BaseModel):
    """What identifies an evaluation: pack, tenant and period."""

    pack: str = Field(min_length=1, max_length=100, description="pack id", examples=["cn-smartcity-2016"])
    tenant: str = Field(
        min_length=1, max_length=64, description="tenant (administrative unit) id", examples=["linjiang"]
    )
    period: str = Field(
        min_length=4,
        max_length=40,
        description="2026, 2026Q3, 2026-07 or 2026-01-01..2026-03-31",
        examples=["2026Q1"],
    )


class EvaluationCreate(EvaluationBase):
    """A request to evaluate a pack for a tenant and period now."""

    engine: Literal["duckdb", "spark"] | None = Field(
        None, description="analytics engine; default from settings"
    )

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        try:
            return parse_period(value).label
        except InvalidInput as exc:
            raise ValueError(f"{exc.message}; {exc.fix}") from None


class EvaluationRead(EvaluationBase):
    """A finished run in short form (lists)."""

    run_id: str
    pack_version: str
    total: float | None
    max_total: float
    stage: str | None
    engine: str
    finished_at: str | None


class EvaluationPage(BaseModel):
    """One page of runs, newest period first."""

    items: list[EvaluationRead]
    total: int = Field(description="runs matching the filters, on every page")
    limit: int
    offset: int


class NodeScore(BaseModel):
    """A node's value and score in a run (the ``evaluate --json`` form)."""

    id: str
    name: str
    weight: float
    value: float | None
    score: float | None
    status: str


class EvaluationResult(BaseModel):
    """A run just evaluated: total, stage and every node's score."""

    run_id: str
    pack: str
    tenant: str
    period: str
    total: float | None
    stage: str | None
    nodes: list[NodeScore]


# ---- the run view (docs/dev/contracts.md) ------------------------------------------------------------------


class RunHeader(BaseModel):
    """The run's header in the run view."""

    id: str
    pack: str
    pack_version: str
    pack_title: str
    pack_title_en: str
    standard: str
    provenance_note: str
    tenant: str
    tenant_name: str
    period: str
    period_start: str
    period_end: str
    engine: str
    started_at: str
    finished_at: str | None
    total: float | None
    max_total: float
    stage: str | None
    stage_en: str | None
    no_data_policy: str
    warnings: list[str]


class StageRead(BaseModel):
    """A development stage band (发展阶段) and the lowest total that reaches it."""

    name: str
    name_en: str
    min: float


class NodeView(BaseModel):
    """One node of a run with its score and evidence."""

    id: str
    parent_id: str | None
    depth: int
    position: int
    name: str
    name_en: str
    kind: Literal["group", "measure", "manual"]
    weight: float
    max_score: float
    value: float | None
    unit: str | None
    score: float | None
    status: str
    delta: float | None
    provenance: str | None
    note: str | None
    measure: str | None
    scoring: dict[str, Any] | None
    evidence: dict[str, Any]


class TrendPoint(BaseModel):
    """The same pack and tenant in one period: total, stage and first-level scores."""

    run_id: str
    period: str
    total: float | None
    stage: str | None
    level1: dict[str, float | None]


class RunView(BaseModel):
    """Everything reports and pages show about one run."""

    run: RunHeader
    stages: list[StageRead]
    stage_note: str
    nodes: list[NodeView]
    trend: list[TrendPoint]


# ---- packs: PackBase → PackRead → PackTree -----------------------------------------------------------------


class PackBase(BaseModel):
    """What names a pack."""

    id: str
    version: str
    title: str
    title_en: str
    standard: str


class PackRead(PackBase):
    """A pack in short form (lists)."""

    scale: float
    no_data: Literal["zero", "reweight"]
    nodes: int = Field(description="number of nodes")
    leaves: int = Field(description="number of scored indicators (measured or entered)")

    @classmethod
    def from_pack(cls, pack: Pack) -> PackRead:
        """The short form of a loaded pack."""
        nodes = pack.walk()
        return cls.model_validate(
            {
                "id": pack.id,
                "version": pack.version,
                "title": pack.title,
                "title_en": pack.title_en,
                "standard": pack.standard,
                "scale": pack.scale,
                "no_data": pack.no_data,
                "nodes": len(nodes),
                "leaves": sum(1 for n in nodes if not n.children),
            }
        )


class PackNodeRead(BaseModel):
    """A pack node with its binding, scoring rule, provenance and children."""

    id: str
    name: str
    name_en: str
    weight: float
    split: str
    kind: Literal["group", "measure", "manual"]
    provenance: str
    note: str | None
    measure: str | None
    input: dict[str, Any] | None
    scoring: dict[str, Any] | None
    children: list[PackNodeRead]

    @classmethod
    def from_node(cls, node: Node) -> PackNodeRead:
        """The node and its subtree."""
        return cls.model_validate(
            {
                "id": node.id,
                "name": node.name,
                "name_en": node.name_en,
                "weight": node.weight,
                "split": node.split,
                "kind": node.kind,
                "provenance": node.provenance,
                "note": node.note,
                "measure": node.measure,
                "input": node.input,
                "scoring": node.scoring,
                "children": [cls.from_node(c) for c in node.children],
            }
        )


class PackTree(PackRead):
    """A pack with its provenance, stage bands and node tree."""

    provenance_note: str
    stage_note: str
    stages: list[StageRead]
    tree: list[PackNodeRead]

    @classmethod
    def from_pack(cls, pack: Pack) -> PackTree:
        """The full form of a loaded pack."""
        short = PackRead.from_pack(pack).model_dump()
        return cls(
            **short,
            provenance_note=pack.provenance_note,
            stage_note=pack.stage_note,
            stages=[StageRead(name=s.name, name_en=s.name_en, min=s.min) for s in pack.stages],
            tree=[PackNodeRead.from_node(n) for n in pack.nodes],
        )
