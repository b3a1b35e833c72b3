"""The demo city generator (演示城市): 临江市, a fictional prefecture-level city of 3.2 million people whose smart-city
operation improves quarter by quarter — one district leading, one lagging.

``generate`` registers the administrative tree and the departments in the state DB, builds the registries
(devices, data resources, government services) and writes about five quarters of operation to the lake, one
month and one district at a time, from vectorised numpy and a seed: the same seed and ``today`` give the same rows.
The registries live in :mod:`chengyun.demo.registries`-style builders below; the streams in
:mod:`chengyun.demo.streams`."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from rich.progress import Progress
from sqlalchemy.orm import Session

from chengyun.core.errors import Conflict, InvalidInput
from chengyun.core.periods import Period, recent_quarters
from chengyun.core.settings import Settings
from chengyun.demo import names as N
from chengyun.demo.registries import Assets, Catalogue, Services, build_assets, build_catalogue, build_services
from chengyun.demo.streams import DAY, FACTS, LOCAL
from chengyun.lake.writer import write
from chengyun.tenancy.models import AdminUnit
from chengyun.tenancy.service import add_department, add_unit
