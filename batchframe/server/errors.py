"""Errors the server answers with: each carries an HTTP status and a tonic ``code`` text.

The body is always the xAI envelope ``{"code": <tonic description>, "error": <message>}``.

>>> NotFound("Cannot find batch with ID x").status
404
"""

from __future__ import annotations

__all__ = [
    "Internal",
    "InvalidArgument",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PreconditionFailed",
    "ResourceExhausted",
    "ServerProblem",
    "Unauthenticated",
    "Unavailable",
    "Unprocessable",
    "UnsupportedMediaType",
]

_INVALID = "Client specified an invalid argument"


class ServerProblem(Exception):
    """A failed call: ``status``, tonic ``code`` text, message, extra response headers."""

    status = 500
    code = "Internal error"

    def __init__(self, message: str, *, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or []


class InvalidArgument(ServerProblem):
    status, code = 400, _INVALID


class Unauthenticated(ServerProblem):
    status, code = 401, "The request does not have valid authentication credentials"


class PermissionDenied(ServerProblem):
    status, code = 403, "The caller does not have permission to execute the specified operation"


class NotFound(ServerProblem):
    status, code = 404, "Some requested entity was not found"


class MethodNotAllowed(ServerProblem):
    status, code = 405, "Operation is not implemented or not supported"


class PreconditionFailed(ServerProblem):
    status, code = 412, "The system is not in a state required for the operation's execution"


class PayloadTooLarge(ServerProblem):
    status, code = 413, _INVALID


class UnsupportedMediaType(ServerProblem):
    status, code = 415, _INVALID


class Unprocessable(ServerProblem):
    status, code = 422, _INVALID


class ResourceExhausted(ServerProblem):
    status, code = 429, "Some resource has been exhausted"


class Internal(ServerProblem):
    status, code = 500, "Internal error"


class Unavailable(ServerProblem):
    status, code = 503, "The service is currently unavailable"
