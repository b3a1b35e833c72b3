"""An evaluation computes first and writes its run at the end: while its measures run, other writers (case
posts, the SLA tick) get the state DB's write lock at once. Observed from outside, on SQLite, by a second
connection that tries to take the write lock without waiting, over and over, while the evaluation runs."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from chengyun.core.db import session_scope
from tests.api.conftest import TENANT, api_test_pack_registered, build_small_city, run_evaluation


def test_an_evaluation_leaves_the_write_lock_free_while_it_computes(tmp_path: Path) -> None:
    settings = build_small_city(tmp_path)
    done = threading.Event()
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            with api_test_pack_registered(tmp_path / "packs"):
                for _ in range(3):  # long enough to be watched; one transaction each, as requests do
                    with session_scope(settings) as s:
                        run_evaluation(s, settings, TENANT, "2025Q1")
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    probe = sqlite3.connect(settings.db_url.split("///", 1)[1], timeout=0, isolation_level=None)
    tries = locked = 0
    worker = threading.Thread(target=evaluate)
    worker.start()
    while not done.is_set():
        tries += 1
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            locked += 1
        time.sleep(0.005)
    worker.join()
    probe.close()
    assert not errors, errors
    assert tries >= 20, f"the evaluation ended before it could be watched ({tries} tries)"
    # before, the lock was taken at the first step and held to the commit: every try failed
    assert locked / tries < 0.3, f"{locked} of {tries} tries found the state DB locked"
