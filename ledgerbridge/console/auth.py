"""Who may use the console: whoever knows the token, read from an environment variable.

The token is given once on the login page (or as `Authorization: Bearer ...` by a script); the
browser then keeps a session cookie that is an HMAC of the token, so the token itself is never
stored in the browser, a URL or a log. The cookie is HttpOnly and SameSite=Strict, which also keeps
other sites from posting decisions in the user's name.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from urllib.parse import quote

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

TOKEN_ENV = "LEDGERBRIDGE_CONSOLE_TOKEN"
COOKIE = "ledgerbridge_console"
OPEN_PATHS = ("/login", "/static/", "/healthz")


class ConsoleTokenMissing(RuntimeError):
    pass


def console_token(env: str = TOKEN_ENV) -> str:
    """The console's token from `env`, or an error saying which variable to set."""
    token = os.environ.get(env, "")
    if len(token) < 16:
        raise ConsoleTokenMissing(
            f"the review console needs a token of at least 16 characters in the environment variable {env} "
            f"(for example: export {env}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))'))"
        )
    return token


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"ledgerbridge console session", hashlib.sha256).hexdigest()


def token_matches(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


class TokenAuth(BaseHTTPMiddleware):
    def __init__(self, app, token: str):
        super().__init__(app)
        self.token = token
        self.session = session_value(token)

    def authenticated(self, request: Request) -> bool:
        bearer = request.headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            return token_matches(bearer[7:].strip(), self.token)
        return hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), self.session.encode())

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path.startswith(OPEN_PATHS) or self.authenticated(request):
            return await call_next(request)
        if request.method == "GET":
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return Response("log in first", status_code=401)


def login_cookie(response: Response, token: str, *, secure: bool) -> Response:
    response.set_cookie(COOKIE, session_value(token), httponly=True, samesite="strict", secure=secure)
    return response
