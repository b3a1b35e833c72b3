"""Logging with the request id on every line (``[rid=…]``), so one request can be followed through the logs.

Secrets never reach a log line: the access log writes method, path, status, time and user, never query strings
of the login, headers, cookies or bodies.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("chengyun_request_id", default="-")
FORMAT = "%(asctime)s %(levelname)-7s %(name)s [rid=%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on each record as ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: int = logging.INFO) -> None:
    """Send the ``chengyun`` loggers to standard error with the request id (idempotent)."""
    logger = logging.getLogger("chengyun")
    if any(getattr(h, "_chengyun", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RequestIdFilter())
    handler._chengyun = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
