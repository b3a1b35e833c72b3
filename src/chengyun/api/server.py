"""``chengyun serve``: the console and API under uvicorn, with safe defaults.

On 127.0.0.1 nothing needs configuring (the secret key is generated into the workspace). Beyond loopback the
server refuses to start without a strong ``CHENGYUN_SECRET_KEY``, and warns when the session cookie is not marked
Secure. The secret itself is never logged or echoed.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

from chengyun.core.errors import ChengyunError
from chengyun.core.files import make_private, privacy_warning
from chengyun.core.settings import Settings, get_settings

log = logging.getLogger("chengyun.server")

MIN_SECRET = 32
# Words that mark a key copied from an example or left as a placeholder. Only words of six letters or more: a
# random key (64 URL-safe characters) contains one of them by chance with a probability well under one in a million.
PLACEHOLDER_WORDS = ("change", "secret", "default", "example", "placeholder", "replace", "insecure", "password")
GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (127.x, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve to anything
        return False


def secret_problem(secret: str | None) -> str | None:
    """Why ``secret`` is not fit for a server others can reach, or None when it is (never quotes the secret)."""
    if not secret:
        return "it is not set"
    if len(secret) < MIN_SECRET:
        return f"it is shorter than {MIN_SECRET} characters ({len(secret)})"
    lowered = secret.lower()
    if any(word in lowered for word in PLACEHOLDER_WORDS) or len(set(secret)) < 10:
        return "it looks like a placeholder, not a random key"
    return None


def check_bind(settings: Settings, host: str) -> list[str]:
    """Refuse (ChengyunError) to serve beyond loopback without a strong secret key; returns and logs warnings."""
    if is_loopback(host):
        return []
    problem = secret_problem(settings.secret_key)
    if problem is not None:
        raise ChengyunError(
            f"refusing to serve on {host}: CHENGYUN_SECRET_KEY must be a strong secret when the server is reachable "
            f"from other machines, and {problem}",
            fix=f"generate one with `{GENERATE}` and set CHENGYUN_SECRET_KEY to it (at least {MIN_SECRET} "
            "characters, kept out of version control), or serve on 127.0.0.1",
        )
    warnings = []
    if not settings.cookie_secure:
        warnings.append(f"serving on {host} with CHENGYUN_COOKIE_SECURE=false: the session cookie also travels "
                        "over plain HTTP; put the server behind HTTPS and set CHENGYUN_COOKIE_SECURE=true")
    for w in warnings:
        log.warning(w)
    return warnings


def serve(*, workspace: str | Path | None, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the app for ``workspace`` on ``host:port`` (no reload; migrations apply at startup)."""
    import uvicorn

    from chengyun.api.app import create_app
    from chengyun.core.logging import configure_logging

    configure_logging()
    make_private()
    settings = get_settings(workspace)
    check_bind(settings, host)
    if warning := privacy_warning(settings.workspace):
        log.warning(warning)
    # the app writes its own access lines, with the request id and the user; uvicorn's would repeat them.
    # Proxy headers: uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise, which would let anyone on
    # this machine pick their address (the login throttle, the Open311 limit, the audit trail); the app believes
    # them only from CHENGYUN_FORWARDED_ALLOW_IPS, so uvicorn's own handling is off and told to trust nobody.
    uvicorn.run(create_app(settings), host=host, port=port, reload=False, log_level="info", access_log=False,
                proxy_headers=False, forwarded_allow_ips="")
