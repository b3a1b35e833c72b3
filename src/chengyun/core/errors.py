"""One error hierarchy. The CLI prints ``message`` and ``fix``; the API maps ``status`` to HTTP in one handler."""

from __future__ import annotations


class ChengyunError(Exception):
    """Base of every error the platform raises on purpose."""

    status = 400
    code = "error"

    def __init__(self, message: str, *, fix: str | None = None, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.details = details or []

    def to_dict(self) -> dict[str, object]:
        """The JSON error shape shared by the API and ``--json`` output."""
        return {"error": {"code": self.code, "message": self.message, "fix": self.fix, "details": self.details}}

    def __str__(self) -> str:
        text = self.message
        if self.details:
            text += "\n" + "\n".join(f"  - {d}" for d in self.details)
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class InvalidInput(ChengyunError):
    """Input that cannot be accepted as given (a field, a row, a value)."""

    status = 422
    code = "invalid-input"


class NotFound(ChengyunError):
    """A named thing does not exist."""

    status = 404
    code = "not-found"


class Conflict(ChengyunError):
    """The thing exists already or the state forbids the change."""

    status = 409
    code = "conflict"


class PackError(InvalidInput):
    """An indicator pack that fails validation; ``details`` lists each problem with file and node path."""

    code = "invalid-pack"


class EngineUnavailable(ChengyunError):
    """An analytics engine that is not installed or cannot start."""

    status = 503
    code = "engine-unavailable"


class Unauthorized(ChengyunError):
    """No valid credentials: log in, or send ``Authorization: Bearer <token>``."""

    status = 401
    code = "unauthorized"


class Forbidden(ChengyunError):
    """Valid credentials without the role or the administrative unit the action needs."""

    status = 403
    code = "forbidden"


class TooManyRequests(ChengyunError):
    """Too many attempts (failed logins); ``retry_after`` says in how many seconds to try again."""

    status = 429
    code = "too-many-requests"

    def __init__(self, message: str, *, retry_after: int, fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.retry_after = retry_after


class Busy(ChengyunError):
    """The state DB is held by another writer longer than a request may wait; ``retry_after`` in seconds."""

    status = 503
    code = "busy"

    def __init__(self, message: str, *, retry_after: int = 2, fix: str | None = None) -> None:
        super().__init__(message, fix=fix or f"send the request again in {retry_after} s; nothing of it was kept")
        self.retry_after = retry_after

