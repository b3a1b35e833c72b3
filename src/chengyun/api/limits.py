"""Request limits (请求限制), applied before anything else: before routing, authentication and parsing.

Each route family has a body limit: data uploads (``PUT /api/v1/datasets/{id}/data``) the upload limit, telemetry
and NGSI-LD the ingest limit, every other request (JSON, forms, YAML) the small one. A ``Content-Length`` over the
limit is answered 413 at once, without reading a byte of the body; a body sent without a length (chunked) is
counted as it arrives and cut off with 413 the moment it passes the limit, so no request can make the server hold
more than its family's limit in memory — or, for uploads, which are streamed to a file, more than one chunk.
"""

from __future__ import annotations

import json
import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chengyun.core.settings import Settings
from chengyun.ingest.telemetry import MAX_BYTES as INGEST_BYTES

_UPLOAD = re.compile(r"^/api/v1/datasets/[^/]+/data$")
_INGEST = ("/api/v1/telemetry", "/ngsi-ld/")
_WITH_BODY = {"POST", "PUT", "PATCH"}


def body_limit(path: str, settings: Settings) -> tuple[int, str]:
    """The body limit in bytes of the route family ``path`` belongs to, and the setting that sets it."""
    if _UPLOAD.match(path):
        return settings.upload_max_mb * 2**20, "CHENGYUN_UPLOAD_MAX_MB"
    if path.startswith(_INGEST):
        return INGEST_BYTES, "(ingest: split the batch)"
    return settings.max_body_kb * 1024, "CHENGYUN_MAX_BODY_KB"


def _fix(limit: int, setting: str) -> str:
    if setting.startswith("("):
        return f"send at most {limit:,} bytes per request: split the batch into several requests"
    return f"send at most {limit:,} bytes, or raise the limit with {setting}"


def _refusal(limit: int, setting: str) -> bytes:
    return json.dumps({"error": {"code": "too-large", "message": f"request body over {limit:,} bytes",
                                 "fix": _fix(limit, setting), "details": []}}).encode()


class BodyLimit:
    """ASGI middleware refusing bodies over their route family's limit (413), before they are read or parsed."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        limit, setting = body_limit(scope["path"], self.settings)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _send_413(send, limit, setting)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # a body without a length, or longer than it said: stop reading it here
                    raise HTTPException(413, f"request body over {limit:,} bytes; {_fix(limit, setting)}")
            return message

        await self.app(scope, counted, send)


async def _send_413(send: Send, limit: int, setting: str) -> None:
    body = _refusal(limit, setting)
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
