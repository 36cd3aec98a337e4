"""The console's pages and the decisions they post. Every read and every decision is a function of
ledgerbridge.sync.review (the notifications: ledgerbridge.notify.journal); this module only turns
them into pages and redirects."""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ledgerbridge.console.auth import TokenAuth, login_cookie, token_matches
from ledgerbridge.notify import journal
from ledgerbridge.store import HubStore
from ledgerbridge.sync import review

log = logging.getLogger("ledgerbridge.console")
HERE = Path(__file__).parent
DONE = {  # what a decision means, said back after the redirect (no record data in the URL)
    "accepted": "Suggestion {id} accepted: the next sync links the two records and merges their fields.",
    "rejected": "Suggestion {id} marked as not the same: the next sync keeps them apart and creates each on the other side.",
    "dismissed": "Duplicate report {id} dismissed: the next sync copies the records it held back.",
    "gone": "{id} was already decided (or no longer exists); nothing changed.",
}


def create_app(store: HubStore, systems: dict[str, str], token: str, *, secure_cookie: bool = False) -> Starlette:
    """The console over `store`; `systems` names the CRM and ERP ({"crm": "webcrm", "erp": "economic"})."""
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals["systems"] = systems

    def page(request: Request, name: str, **context) -> Response:
        done = request.query_params.get("done")
        message = DONE[done].format(id=request.query_params.get("id", "")) if done in DONE else None
        still_open = []
        if name != "login.html":  # the banner: what the notifier told and is not resolved yet (never before login)
            with store.connect() as conn:
                # a stopped push or a failed run before records held back; newest first within each
                still_open = sorted(journal.entries(conn, only_open=True), key=lambda e: e.severity != "error")
        return templates.TemplateResponse(request, name, {"message": message, "still_open": still_open, **context})

    def read(query, *args):
        with store.connect() as conn:
            return query(conn, systems, *args)

    async def overview(request: Request) -> Response:
        with store.connect() as conn:
            counts = {
                "matches": len(review.open_suggestions(conn, systems)),
                "duplicates": len(review.open_duplicates(conn, systems)),
                "held": len({(g.entity, g.target, r.hub_id) for g in review.held_back(conn, systems)
                             if g.severity != "warn" for r in g.records}),
                "conflicts": len(review.recent_conflicts(conn, systems)),
                "failed": len(review.failed_writes(conn, systems)),
                "notifications": journal.open_count(conn),
            }
        return page(request, "overview.html", counts=counts)

    async def matches(request: Request) -> Response:
        return page(request, "pairs.html", pairs=read(review.open_suggestions), kind="match", title="Suggested matches")

    async def duplicates(request: Request) -> Response:
        return page(request, "pairs.html", pairs=read(review.open_duplicates), kind="duplicate",
                    title="Likely duplicates")

    async def held(request: Request) -> Response:
        return page(request, "held.html", groups=read(review.held_back))

    async def conflicts(request: Request) -> Response:
        return page(request, "conflicts.html", conflicts=read(review.recent_conflicts))

    async def failed(request: Request) -> Response:
        return page(request, "failed.html", writes=read(review.failed_writes))

    async def notifications(request: Request) -> Response:
        with store.connect() as conn:
            entries = journal.entries(conn)
        return page(request, "notifications.html", entries=entries)

    async def decide_match(request: Request) -> Response:
        if request.path_params["decision"] not in ("accept", "reject"):
            return PlainTextResponse("a suggestion is accepted or rejected", status_code=404)
        pair_id, accept = int(request.path_params["id"]), request.path_params["decision"] == "accept"
        with store.begin() as conn:
            decided = review.decide(conn, [pair_id], accept=accept, systems=systems)
        done = ("accepted" if accept else "rejected") if decided else "gone"
        log.info("match suggestion %s: %s", pair_id, done)
        return RedirectResponse(f"/matches?done={done}&id={pair_id}", status_code=303)

    async def dismiss_duplicate(request: Request) -> Response:
        pair_id = int(request.path_params["id"])
        with store.begin() as conn:
            decided = review.dismiss_duplicates(conn, [pair_id])
        done = "dismissed" if decided else "gone"
        log.info("duplicate report %s: %s", pair_id, done)
        return RedirectResponse(f"/duplicates?done={done}&id={pair_id}", status_code=303)

    async def login_form(request: Request) -> Response:
        return page(request, "login.html", failed=False, next=_local(request.query_params.get("next", "/")))

    async def login(request: Request) -> Response:
        form = await request.form()
        target = _local(str(form.get("next", "/")))
        if not token_matches(str(form.get("token", "")), token):
            log.warning("console login refused")
            response = page(request, "login.html", failed=True, next=target)
            response.status_code = 401
            return response
        return login_cookie(RedirectResponse(target, status_code=303), token, secure=secure_cookie)

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie("ledgerbridge_console")
        return response

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/", overview),
            Route("/matches", matches),
            Route("/matches/{id:int}/{decision:str}", decide_match, methods=["POST"]),
            Route("/duplicates", duplicates),
            Route("/duplicates/{id:int}/dismiss", dismiss_duplicate, methods=["POST"]),
            Route("/held-back", held),
            Route("/conflicts", conflicts),
            Route("/failed", failed),
            Route("/notifications", notifications),
            Route("/login", login_form),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/healthz", healthz),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[Middleware(TokenAuth, token=token)],
    )


def _local(target: str) -> str:
    """Only paths on this console are followed after login (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"
