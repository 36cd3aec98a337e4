"""The HTTP client every REST connector shares: one session, timeouts, retries, rate limit.

Retries use tenacity; a 429/503 with Retry-After waits what the server asked for. Only
idempotent failures are retried: connection errors, 429 and 5xx. A 4xx is final and raised as
RecordRejected with the system's own error text, so the caller can quarantine the record.
"""

from __future__ import annotations

import email.utils
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import requests
import urllib3
from tenacity import RetryCallState, retry_if_exception, stop_after_attempt, Retrying

from ledgerbridge.connectors.base import ConnectorError, OutcomeUnknown, RecordRejected

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class RetryableResponse(Exception):
    def __init__(self, response: requests.Response | urllib3.BaseHTTPResponse):
        status = response.status_code if isinstance(response, requests.Response) else response.status
        super().__init__(f"HTTP {status}")
        self.response = response
        self.status = status


def retry_after_seconds(response: requests.Response | urllib3.BaseHTTPResponse | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class RateLimiter:
    """At most `per_second` calls per second, across threads (a token bucket of size 1 per slot)."""

    def __init__(self, per_second: float | None):
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class HttpClient:
    def __init__(
        self,
        base_url: str,
        *,
        system: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff_base: float = 0.2,
        backoff_max: float = 30.0,
        rate_per_second: float | None = None,
        auth_refresh: Callable[[], Mapping[str, str]] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.system = system
        self.session = requests.Session()
        self.session.headers.update(headers or {})
        self._settle_environment()
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.limiter = RateLimiter(rate_per_second)
        self.auth_refresh = auth_refresh
        self.calls = 0  # remote calls made, for benchmarks and metadata
        self._calls_lock = threading.Lock()  # connectors may call from several threads (reading ahead)
        self._pool: urllib3.HTTPConnectionPool | None = None  # get_json's connections, made on first use

    def _settle_environment(self) -> None:
        """Read proxies, CA bundle and .netrc from the environment once, here, not on every call.

        With trust_env on (requests' default) every call re-reads the proxy variables, the CA bundle
        variables and ~/.netrc: 12% of the time of a pull that makes one call per invoice. The same
        settings, resolved for the base URL (every call goes to that host), are put on the session
        and the per-call lookups switched off. An explicit argument to a call still wins, as before.
        """
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            self.session.verify = bundle
        if self.session.auth is None:
            netrc = requests.utils.get_netrc_auth(self.base_url)
            if netrc:
                self.session.auth = netrc
        self.session.trust_env = False

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        response = error.response if isinstance(error, RetryableResponse) else None
        asked = retry_after_seconds(response)
        if asked is not None:
            return min(asked, self.backoff_max)
        return min(self.backoff_base * 2 ** (state.attempt_number - 1), self.backoff_max)

    def _count(self) -> None:
        with self._calls_lock:
            self.calls += 1

    def request(self, method: str, path: str, *, what: str, safe: bool | None = None, **kwargs: Any) -> requests.Response:
        """Send one call; `what` names the call and record for error messages (never secrets).

        `safe` says whether sending the call again can do no harm: by default the idempotent HTTP
        methods are; a POST that only reads or logs in passes safe=True. An unsafe call whose outcome
        is unknown (timeout, dropped connection, 5xx after it left) raises OutcomeUnknown.
        """
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        kwargs.setdefault("timeout", self.timeout)
        refreshed = False
        safe = method.upper() in IDEMPOTENT if safe is None else safe
        attempts = 0

        def send() -> requests.Response:
            nonlocal refreshed, attempts
            attempts += 1
            self.limiter.wait()
            self._count()
            response = self.session.request(method, url, **kwargs)
            if response.status_code == 401 and self.auth_refresh and not refreshed:
                refreshed = True
                self.session.headers.update(self.auth_refresh())
                self._count()
                response = self.session.request(method, url, **kwargs)
            if response.status_code in RETRYABLE_STATUS:
                raise RetryableResponse(response)
            return response

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: _may_retry(safe, e)),
            reraise=True,
        )
        tries = lambda: "once" if attempts == 1 else f"{attempts} times"  # noqa: E731
        try:
            response = retrying(send)
        except RetryableResponse as exc:
            status = exc.response.status_code
            error_class = OutcomeUnknown if not safe and status != 429 else ConnectorError
            raise error_class(
                f"{self.system}: {what} failed (sent {tries()}): HTTP {status} {short_body(exc.response)}",
                status=status,
            ) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            never_sent = isinstance(exc, requests.ConnectTimeout)
            error_class = OutcomeUnknown if not safe and not never_sent else ConnectorError
            host = self.base_url.split("://", 1)[-1]
            raise error_class(f"{self.system}: {what} failed (sent {tries()}; {host}): {_cause(exc)}") from None
        if response.status_code >= 400:
            error_class = RecordRejected if 400 <= response.status_code < 500 else ConnectorError
            raise error_class(
                f"{self.system}: {what} was refused: HTTP {response.status_code} {short_body(response)}",
                status=response.status_code,
            )
        return response

    def get_json(self, path: str, *, what: str, params: Mapping[str, Any] | None = None) -> Any:
        """`request("GET", path, params=params).json()`: the same headers, timeout, rate limit, retries
        (429/5xx honouring Retry-After, dropped connections) and errors, sent straight through urllib3.

        requests' per-call machinery (preparing the request, merging settings, cookies, hooks, the
        Response object) costs about 2.5 times what urllib3 needs for the same call: most of a pull's
        CPU where it reads one record per call (e-conomic's invoice lines). Calls that need more than
        headers (session auth, cookies, proxies, a token refresh, a redirect) go through `request`.
        """
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)  # as requests encodes them
        session = self.session
        if session.auth is not None or session.cookies or session.proxies or self.auth_refresh is not None:
            return self.request("GET", url, what=what).json()
        pool = self._pool or self._make_pool()
        if not pool.is_same_host(url):
            return self.request("GET", url, what=what).json()
        target = urllib3.util.parse_url(url).request_uri  # path and query, as requests sends them
        headers = dict(session.headers)  # read per call: a connector may change them (a new token)
        timeout = urllib3.Timeout(connect=self.timeout, read=self.timeout)
        attempts = 0

        def send() -> urllib3.BaseHTTPResponse:
            nonlocal attempts
            attempts += 1
            self.limiter.wait()
            self._count()
            response = pool.request("GET", target, headers=headers, timeout=timeout, retries=_NO_RETRIES, redirect=False)
            if response.status in RETRYABLE_STATUS:
                raise RetryableResponse(response)
            return response

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, (RetryableResponse, urllib3.exceptions.HTTPError))),
            reraise=True,
        )
        tries = lambda: "once" if attempts == 1 else f"{attempts} times"  # noqa: E731
        try:
            response = retrying(send)
        except RetryableResponse as exc:
            raise ConnectorError(f"{self.system}: {what} failed (sent {tries()}): HTTP {exc.status} "
                                 f"{_short_text(exc.response.data)}", status=exc.status) from None
        except urllib3.exceptions.HTTPError as exc:
            host = self.base_url.split("://", 1)[-1]
            raise ConnectorError(f"{self.system}: {what} failed (sent {tries()}; {host}): {_cause(exc)}") from None
        if 300 <= response.status < 400:
            return self.request("GET", url, what=what).json()  # requests follows redirects as it always did
        if response.status >= 400:
            error_class = RecordRejected if response.status < 500 else ConnectorError
            raise error_class(f"{self.system}: {what} was refused: HTTP {response.status} {_short_text(response.data)}",
                              status=response.status)
        return json.loads(response.data)

    def _make_pool(self) -> urllib3.HTTPConnectionPool:
        """Connections to the base URL's host (a connector calls no other; get_json sends any other
        host through requests), as many kept alive as requests' adapter keeps: connectors read ahead
        on a few threads."""
        options: dict[str, Any] = {"maxsize": 10}
        if self.base_url.startswith("https"):
            verify = self.session.verify
            if verify is False:
                options["cert_reqs"] = "CERT_NONE"
            else:
                options.update(cert_reqs="CERT_REQUIRED",
                               ca_certs=verify if isinstance(verify, str) else requests.utils.DEFAULT_CA_BUNDLE_PATH)
        with self._calls_lock:
            if self._pool is None:
                self._pool = urllib3.connection_from_url(self.base_url, **options)
        return self._pool

    def close(self) -> None:
        self.session.close()
        if self._pool is not None:
            self._pool.close()


IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# urllib3 itself neither retries nor follows redirects in get_json (tenacity retries; redirects go to
# requests): made once, as urllib3 would make it from retries=False on every call.
_NO_RETRIES = urllib3.Retry.from_int(False, redirect=False)


def _may_retry(safe: bool, error: BaseException) -> bool:
    """Whether sending the call again is safe.

    A POST that failed with a 5xx or a broken connection may have been carried out: sending it
    again could create a duplicate, so only a 429 (refused before processing) or a connection that
    was never made is retried for it. The outbox looks such a create up before trying it again.
    """
    if safe:
        return isinstance(error, (RetryableResponse, requests.ConnectionError, requests.Timeout))
    if isinstance(error, RetryableResponse):
        return error.response.status_code == 429
    return isinstance(error, requests.ConnectTimeout)


def _cause(error: BaseException) -> str:
    """One line for a transport failure: its kind, without the library's nested reprs."""
    if isinstance(error, (requests.Timeout, urllib3.exceptions.TimeoutError)):
        return "no answer within the timeout"
    text = str(error)
    for marker in ("Connection refused", "Name or service not known", "Connection aborted", "RemoteDisconnected"):
        if marker in text:
            return marker.lower()
    return type(error).__name__


def short_body(response: requests.Response, limit: int = 500) -> str:
    text = response.text or ""
    return text if len(text) <= limit else text[:limit] + "…"


def _short_text(body: bytes, limit: int = 500) -> str:
    text = body.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "…"
