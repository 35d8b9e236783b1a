"""The MCP server over Streamable HTTP at /mcp/, authenticated by per-user API tokens.

`mcp_http_app()` is an ASGI app (the SDK's Starlette app inside `TokenGate`); config/asgi.py
routes /mcp to it and everything else to Django. Guarantees, for every HTTP request:

- It carries `Authorization: Bearer <secret>` of a live token (agents.actions.use_token: not
  revoked, not expired, its user active), or it is answered 401 and audited
  (`agents.refused`); so a revoked token is refused on its next call.
- At most AGENTS_RATE_LIMIT requests per token per minute (config/settings.py); more are answered
  429 with Retry-After.
- Each MCP call inside it is served by `agents.server.build_server` for the token's user and
  scopes, checked afresh by the handler itself (so even a request admitted just before the
  token was revoked serves nothing).

Stateless and JSON-only: every POST stands alone, so no session outlives a token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import anyio.to_thread
from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from agents.actions import use_token
from agents.server import Caller, Refused, build_server, call_origin
from config import request_context
from config.request_context import RequestContext
from knowledge import audit

PATH = "/mcp/"
INVALID = "This token is not valid: unknown, revoked or expired. Create one at /agents/tokens/."

# The bearer secret of the HTTP request whose MCP call is being served.
_secret: ContextVar[str | None] = ContextVar("agents_bearer_secret", default=None)


def bearer_secret(authorization: str | None) -> str | None:
    """The secret of an `Authorization: Bearer <secret>` header, or None."""
    scheme, _, secret = (authorization or "").partition(" ")
    return secret.strip() or None if scheme.lower() == "bearer" else None


def token_principal() -> Caller:
    """The caller of the MCP call being served: the live token of its HTTP request; Refused
    otherwise. Runs in the handler's thread (the ORM is used)."""
    secret = _secret.get()
    token = use_token(secret) if secret else None
    if token is None:
        raise Refused(INVALID)
    return Caller(user=token.user, scopes=frozenset(token.scopes), token_id=token.pk)


async def _bearer_of_request(
    ctx: ServerRequestContext[Any, Any], call_next: CallNext
) -> HandlerResult:
    """MCP middleware: make the HTTP request's bearer secret the one `token_principal` reads,
    and its client IP and X-Request-ID those of the call's audit events, while this call is
    handled (handlers run in the session's task, not the request's)."""
    request = ctx.request
    headers = getattr(request, "headers", None)
    client = getattr(request, "client", None)
    reset = _secret.set(bearer_secret(headers.get("authorization")) if headers else None)
    origin = call_origin.set(
        RequestContext(
            ip=client.host if client else "",
            request_id=request_context.request_id_from(
                headers.get(request_context.HEADER) if headers else None
            ),
        )
    )
    try:
        return await call_next(ctx)
    finally:
        call_origin.reset(origin)
        _secret.reset(reset)


def _admit(secret: str | None, ip: str, request_id: str | None) -> tuple[int, str] | None:
    """None when a request with this secret may go on; else (status, message), audited."""
    close_old_connections()
    try:
        token = use_token(secret) if secret else None
        if token is None:
            origin = RequestContext(ip=ip, request_id=request_context.request_id_from(request_id))
            with request_context.serving(origin):
                audit.record(
                    "agents.refused",
                    f"path:{PATH}",
                    result=audit.Result.DENIED,
                    reason="token" if secret else "no_token",
                    via="mcp",
                )
            return 401, INVALID
        window = int(time.time() // 60)
        key = f"agents:rate:{token.pk}:{window}"
        cache.add(key, 0, timeout=120)
        if cache.incr(key) > settings.AGENTS_RATE_LIMIT:
            return 429, f"More than {settings.AGENTS_RATE_LIMIT} requests a minute with this token."
        return None
    finally:
        close_old_connections()


class TokenGate:
    """ASGI middleware: admit only HTTP requests with a live token under its rate limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        client = scope.get("client")
        ip = client[0] if client else ""
        refused = await anyio.to_thread.run_sync(
            _admit,
            bearer_secret(headers.get("authorization")),
            ip,
            headers.get(request_context.HEADER.lower()),
        )
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, message = refused
        extra: list[tuple[bytes, bytes]] = []
        if status == 401:
            extra.append((b"www-authenticate", b'Bearer error="invalid_token"'))
        else:
            extra.append((b"retry-after", str(60 - int(time.time()) % 60).encode()))
        body = json.dumps({"error": message}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def mcp_http_app() -> ASGIApp:
    """The MCP server over Streamable HTTP at PATH, behind `TokenGate`."""
    server = build_server(token_principal)
    server.middleware.append(_bearer_of_request)
    app = server.streamable_http_app(
        streamable_http_path=PATH,
        stateless_http=True,
        json_response=True,
        # The SDK's DNS-rebinding guard is for unauthenticated local servers: a page that
        # rebinds a name to this host still cannot send a bearer token it does not have.
        # Host checking stays with the proxy, as for the rest of the site.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    return TokenGate(app)


def route(django_app: Callable[..., Awaitable[None]], mcp_app: ASGIApp) -> ASGIApp:
    """One ASGI app: /mcp to `mcp_app` (with the lifespan, which runs its session manager),
    everything else to Django."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or (
            scope["type"] == "http" and scope["path"].rstrip("/") == PATH.rstrip("/")
        ):
            await mcp_app(scope, receive, send)
        else:
            await django_app(scope, receive, send)

    return application
