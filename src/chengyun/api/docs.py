"""The API's interactive documentation (Swagger UI), served from this server: no script comes from elsewhere.

FastAPI's stock page loads Swagger UI from a CDN, without integrity hashes, and so does not work offline. The
bundle here comes from the ``fastapi-offline`` package (Swagger UI 5, which reads OpenAPI 3.1) and is served
through the console's ``/static`` mount; the page's one inline script is allowed by its hash, not by
'unsafe-inline'.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

DOCS_ASSETS = ("fastapi_offline", "static")  # a package folder the /static mount also serves from
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _with_csp(response: HTMLResponse) -> HTMLResponse:
    """Allow exactly the page's inline scripts (by their SHA-256) and scripts from this origin."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(bytes(response.body).decode())
    )
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
    )
    return response


def add_docs(app: FastAPI, *, docs_url: str) -> None:
    """Add the Swagger UI page at ``docs_url`` (and its OAuth2 redirect page), both with local assets only."""
    assert app.openapi_url is not None

    page = _with_csp(get_swagger_ui_html(
        openapi_url=app.openapi_url, title=f"{app.title} — API", oauth2_redirect_url=OAUTH2_REDIRECT,
        swagger_js_url="/static/swagger-ui-bundle.js", swagger_css_url="/static/swagger-ui.css",
        swagger_favicon_url="/static/favicon.png",
    ))
    redirect = _with_csp(get_swagger_ui_oauth2_redirect_html())

    @app.get(docs_url, include_in_schema=False)
    def api_docs() -> HTMLResponse:
        """Swagger UI over this server's OpenAPI document."""
        return HTMLResponse(page.body, headers={"Content-Security-Policy": page.headers["Content-Security-Policy"]})

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    def api_docs_oauth2_redirect() -> HTMLResponse:
        """Swagger UI's OAuth2 redirect page."""
        return HTMLResponse(redirect.body,
                            headers={"Content-Security-Policy": redirect.headers["Content-Security-Policy"]})
