"""``chengyun serve``: the console and API under uvicorn."""

from __future__ import annotations

from pathlib import Path

from chengyun.core.settings import get_settings


def serve(*, workspace: str | Path | None, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the app for ``workspace`` on ``host:port`` (no reload; migrations apply at startup)."""
    import uvicorn

    from chengyun.api.app import create_app

    settings = get_settings(workspace)
    uvicorn.run(create_app(settings), host=host, port=port, reload=False, log_level="info")
