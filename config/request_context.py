"""The request being served, for code that has no `request` at hand (the audit trail).

`RequestContextMiddleware` gives every request an id — the client's or proxy's `X-Request-ID`
when it is a sane token, else a new one — echoes it in the response's `X-Request-ID`, and sets
a context variable with that id and the client IP (as `config.security.client_ip` computes
it). `current()` reads it: `knowledge.audit.record` stores both with every event. Outside a
request (a command, a Celery task) there is no context and `current()` is None.

Every 403 answer is an `access_denied` audit event (result "denied") naming the path and the
user, whatever view refused. (A hidden object is a 404, deliberately not told apart from a
missing one, and not recorded.)
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse

from config.security import client_ip

HEADER = "X-Request-ID"
# What an incoming id may look like: anything else is replaced, so a client cannot put
# arbitrary text (or a very long string) into the audit trail or the logs.
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@dataclass(frozen=True)
class RequestContext:
    ip: str
    request_id: str


_current: ContextVar[RequestContext | None] = ContextVar("colleague_request", default=None)


def current() -> RequestContext | None:
    """The context of the request being served in this thread or task, if any."""
    return _current.get()


def request_id_for(request: HttpRequest) -> str:
    """The request's incoming id when it is a sane token, else a new random one."""
    return request_id_from(request.headers.get(HEADER))


def request_id_from(incoming: str | None) -> str:
    """`incoming` (an X-Request-ID header's value) when it is a sane token, else a new id."""
    if incoming and _VALID_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Set the request context for the duration of a request; echo its id in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        context = RequestContext(ip=client_ip(request), request_id=request_id_for(request))
        token = _current.set(context)
        try:
            response = self.get_response(request)
            if response.status_code == 403:
                _record_denial(request)
        finally:
            _current.reset(token)
        response[HEADER] = context.request_id
        return response


def _record_denial(request: HttpRequest) -> None:
    from knowledge import audit

    user = getattr(request, "user", None)
    audit.record(
        "access_denied",
        f"path:{request.path[:190]}",
        actor=user if user is not None and user.is_authenticated else None,
        result="denied",
        method=request.method,
    )


@contextmanager
def serving(context: RequestContext) -> Iterator[None]:
    """Run work queued by a request (a Celery task) as part of that request: audit events
    recorded meanwhile carry its client IP and request id."""
    token = _current.set(context)
    try:
        yield
    finally:
        _current.reset(token)
