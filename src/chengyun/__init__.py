"""chengyun (城运) — sustained operation and continuous evaluation of a smart city."""

__version__ = "0.1.0"
