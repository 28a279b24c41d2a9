"""The Hub's error responses: status, `X-Error-Code` and message, as the clients map them to exceptions."""

from __future__ import annotations


class HubError(Exception):
    """An error answered as JSON `{"error": message}` with `X-Error-Code` / `X-Error-Message` headers."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        *,
        extra: dict | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra or {}
        self.headers = headers or {}


def repo_not_found(anonymous: bool = False) -> HubError:
    # Anonymous callers get a 401 carrying the code, so the client still raises RepositoryNotFoundError
    # and private repos stay indistinguishable from missing ones.
    return HubError(401 if anonymous else 404, "Repository not found", "RepoNotFound")


def revision_not_found(rev: str) -> HubError:
    return HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")


def entry_not_found(message: str, commit: str | None = None) -> HubError:
    headers = {"X-Repo-Commit": commit} if commit else {}
    return HubError(404, message, "EntryNotFound", headers=headers)


def bad_request(message: str) -> HubError:
    return HubError(400, message)


def unauthenticated(message: str = "You must be authenticated to perform this action") -> HubError:
    return HubError(401, message)


# The client special-cases this exact message so that it is not mistaken for a missing repo.
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"


def invalid_credentials() -> HubError:
    return HubError(401, INVALID_CREDENTIALS)


def forbidden(message: str) -> HubError:
    return HubError(403, message)


def conflict(message: str, *, extra: dict | None = None) -> HubError:
    return HubError(409, message, extra=extra)
