"""A setting out of shape stops a command with the variable named and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_bad_setting_names_the_variable(tmp_path: Path) -> None:
    env = {**os.environ, "CHENGYUN_DATABASE_URL": "", "CHENGYUN_MAX_BODY_KB": "lots"}
    done = subprocess.run([sys.executable, "-m", "chengyun.cli.main", "tenants", "list", "--workspace",
                           str(tmp_path / "ws")], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "CHENGYUN_MAX_BODY_KB" in done.stderr and "Traceback" not in done.stderr + done.stdout
