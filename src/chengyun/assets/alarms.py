"""Alarms (告警): rules per asset kind, evaluated as telemetry arrives; raised → acknowledged → cleared.

One name to import the domain by (``from chengyun.assets import alarms``), split by concept:

- ``alarm_rules``: the rules (``AlarmRule``) — the shipped defaults (``assets/data/alarm_rules.yaml``), a unit's own
  rules read and replaced as YAML, and the rules in force for an asset (``RuleBook``: a unit's and every unit's
  above it, or the defaults when none of them has rules of its own). A rule is a ``threshold`` on a metric, an
  ``absence`` of readings, or a ``rate`` of change.
- ``alarm_evaluation``: ``evaluate_batch`` over one lake batch of readings (``for_seconds`` applied reading by
  reading, state carried between batches in ``AlarmState``) and ``sweep_absence`` over the registry.
- ``alarm_lifecycle``: raising and clearing (at most one alarm per (asset, rule) is not cleared: a repeat adds to
  its ``count``; a rule with ``open_case`` opens a case through ``chengyun.cases.alarms`` and resolves it when the
  alarm clears), people acknowledging and clearing, and the queries that list alarms.

What is left here is the ingest's hook, ``alarm_listener``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa

from chengyun.assets.alarm_evaluation import evaluate_batch, sweep_absence
from chengyun.assets.alarm_lifecycle import (
    ACTIONS,
    ACTOR,
    LIST_FIX,
    OPEN,
    AlarmChanges,
    acknowledge,
    alarm_query,
    allowed_actions,
    clear,
    close_alarm,
    get_alarm,
    list_alarms,
    open_by_severity,
    raise_alarm,
)
from chengyun.assets.alarm_rules import (
    DEFAULT_RULES,
    RuleBook,
    ensure_default_rules,
    load_rules,
    replace_rules,
    rules_of,
)
from chengyun.assets.models import Alarm, AlarmRule, AlarmState
from chengyun.core.db import retrying, session_scope, utcnow
from chengyun.core.settings import Settings

if TYPE_CHECKING:
    from chengyun.cases.service import CaseDesk

__all__ = [
    "ACTIONS", "ACTOR", "DEFAULT_RULES", "LIST_FIX", "OPEN", "Alarm", "AlarmChanges", "AlarmRule", "AlarmState",
    "RuleBook", "acknowledge", "alarm_listener", "alarm_query", "allowed_actions", "clear", "close_alarm",
    "ensure_default_rules", "evaluate_batch", "get_alarm", "list_alarms", "load_rules", "open_by_severity",
    "raise_alarm", "replace_rules", "rules_of", "sweep_absence",
]

log = logging.getLogger(__name__)


def alarm_listener(settings: Settings) -> Callable[[pa.Table], None]:
    """What the ingest calls after each lake batch: evaluate it in a session of its own and commit; a failure is
    logged, never raised (the batch is in the lake already)."""
    desks: list[CaseDesk] = []

    def listen(batch: pa.Table) -> None:
        try:
            if not desks:
                from chengyun.cases.service import CaseDesk

                desks.append(CaseDesk.for_settings(settings))
            def run() -> AlarmChanges:
                with session_scope(settings) as session:
                    return evaluate_batch(session, batch, utcnow(), desk=desks[0])

            changes = retrying(run, what="alarm evaluation")  # an operator acknowledging meanwhile: go again
            if changes.changed:
                log.info("alarms: %d raised, %d cleared, %d repeated over %d readings", len(changes.raised),
                         len(changes.cleared), changes.repeated, changes.readings)
        except Exception:
            log.exception("alarm evaluation failed for a batch of %d readings (the readings are in the lake)",
                          batch.num_rows)

    return listen
