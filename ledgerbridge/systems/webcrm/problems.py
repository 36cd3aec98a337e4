"""The error bodies webCRM answers with (ASP.NET Core problem details), shared by the emulator's routes."""

from __future__ import annotations

import secrets

from starlette.responses import JSONResponse


class ValidationFailed(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("validation failed")
        self.errors = errors


def validation_problem(errors: dict[str, list[str]]) -> JSONResponse:
    return JSONResponse(
        {
            "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
            "title": "One or more validation errors occurred.",
            "status": 400,
            "traceId": secrets.token_hex(8),
            "errors": errors,
        },
        status_code=400,
    )


def not_found() -> JSONResponse:
    return JSONResponse(
        {"type": "https://tools.ietf.org/html/rfc7231#section-6.5.4", "title": "Not Found", "status": 404},
        status_code=404,
    )
