"""The review console: a small web app where the person who owns the data works through what needs
a human (suggested matches, likely duplicates, held-back records, conflicts).

Plain server-rendered HTML (Starlette + Jinja2), no JavaScript. It reads and decides through
ledgerbridge.sync.review, the same functions as `ledgerbridge matches` and `ledgerbridge quarantine`.
"""

from ledgerbridge.console.app import create_app
from ledgerbridge.console.auth import TOKEN_ENV, console_token

__all__ = ["TOKEN_ENV", "console_token", "create_app"]
