"""A local stand-in for the Slack Web API, served over HTTP for the real `WebClient`.

`FakeSlack` serves an in-memory workspace on 127.0.0.1 (a free port) with the documented
response shapes of the methods the connector calls (https://docs.slack.dev/reference/methods):
auth.test, users.list, users.info, conversations.list/.members/.history/.replies and files.info;
and, for the slash command, response URLs (`response_url(name)`), whose posts it keeps in
`responses` as Slack would show them. Pages
hold at most `page_size` items and continue through `response_metadata.next_cursor`; scopes
are checked like Slack does (`missing_scope` with `needed` and `provided`); the bot reads only
conversations it is a member of (`not_in_channel`). Tests can make a method answer HTTP 429
with `Retry-After`, HTTP 503, or any error, and read `calls` to see what was asked.

    with FakeSlack() as slack:
        general = slack.add_channel("general", members=["UALICE001"])
        slack.post(general, "UALICE001", "hello")
        connector = SlackApiConnector(config={"base_url": slack.base_url}, credentials=...)
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "xoxb-1111-2222-fakefakefake"
TEAM_ID = "TACME0001"
BOT_USER = "UBOT00001"
ALL_SCOPES = frozenset(
    {
        "users:read",
        "users:read.email",
        "channels:read",
        "channels:history",
        "groups:read",
        "groups:history",
        "mpim:read",
        "mpim:history",
        "im:read",
        "im:history",
        "files:read",
    }
)
# Which scopes a conversation type needs: (to list it and its members, to read its messages).
TYPE_SCOPES = {
    "public_channel": ("channels:read", "channels:history"),
    "private_channel": ("groups:read", "groups:history"),
    "mpim": ("mpim:read", "mpim:history"),
    "im": ("im:read", "im:history"),
}
# Messages are posted one second apart from here: 2024-03-01T00:00:00Z.
START = Decimal(1709251200)


@dataclass
class _Fault:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = None  # None: every call


class FakeSlack:
    """An in-memory Slack workspace behind a real HTTP server (a context manager)."""

    def __init__(self, *, page_size: int = 2, team_url: str = "https://acme.slack.com/") -> None:
        self.page_size = page_size
        self.team_url = team_url
        self.token = TOKEN
        self.scopes: set[str] = set(ALL_SCOPES)
        self.users: list[dict[str, Any]] = []
        self.channels: dict[str, dict[str, Any]] = {}
        self.members: dict[str, list[str]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, str]]] = []
        # Bodies posted to response URLs, by the URL's last part, in order.
        self.responses: dict[str, list[dict[str, Any]]] = {}
        self._faults: dict[tuple[str, str | None], list[_Fault]] = {}
        self._clock = START
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.add_user("UBOT00001", "colleague", is_bot=True)

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/"

    def response_url(self, name: str) -> str:
        """A response URL shaped like Slack's (hooks.slack.com/commands/T/…/…) on this server."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/commands/{TEAM_ID}/{name}"

    @property
    def response_url_prefix(self) -> str:
        return self.response_url("")

    def responses_to(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.responses.get(name, []))

    def __enter__(self) -> FakeSlack:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- building the workspace ------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str = "",
        email: str = "",
        is_bot: bool = False,
        deleted: bool = False,
        team_id: str = TEAM_ID,
        email_confirmed: bool = True,
    ) -> dict[str, Any]:
        """Add a users.list member (https://docs.slack.dev/reference/objects/user-object)."""
        user = {
            "id": user_id,
            "team_id": team_id,
            "name": name,
            "deleted": deleted,
            "real_name": real_name or name.title(),
            "is_bot": is_bot,
            "is_app_user": False,
            "is_email_confirmed": email_confirmed,
            "profile": {
                "display_name": name,
                "real_name": real_name or name.title(),
                "email": email,
                "title": "",
            },
        }
        self.users.append(user)
        return user

    def add_channel(
        self,
        name: str,
        *,
        members: list[str],
        kind: str = "public_channel",
        channel_id: str | None = None,
        bot_is_member: bool = True,
        topic: str = "",
    ) -> str:
        """Add a conversation of `kind` (a conversations.list type); return its id."""
        prefix = {"public_channel": "C", "private_channel": "G", "mpim": "G", "im": "D"}[kind]
        channel_id = channel_id or f"{prefix}{len(self.channels) + 1:08d}"
        everyone = [*members, BOT_USER] if bot_is_member else list(members)
        record: dict[str, Any] = {
            "id": channel_id,
            "name": name,
            "is_channel": kind == "public_channel",
            "is_group": kind == "private_channel",
            "is_im": kind == "im",
            "is_mpim": kind == "mpim",
            "is_private": kind != "public_channel",
            "is_archived": False,
            "created": int(START),
            "topic": {"value": topic, "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "_type": kind,
        }
        if kind == "im":
            record.pop("name")
            record["user"] = members[0]
        self.channels[channel_id] = record
        self.members[channel_id] = everyone
        self.messages[channel_id] = []
        return channel_id

    def next_ts(self) -> str:
        """Return a fresh timestamp, one second after the last one handed out."""
        self._clock += 1
        return f"{self._clock:.6f}"

    def post(
        self,
        channel: str,
        user: str | None,
        text: str,
        *,
        thread_ts: str | None = None,
        broadcast: bool = False,
        **extra: Any,
    ) -> str:
        """Post a message (or a reply to `thread_ts`) and return its ts.

        `user` None posts as an integration would: pass `bot_id` (and `username`) in `extra`.
        """
        ts = self.next_ts()
        message: dict[str, Any] = {"type": "message", "text": text, "ts": ts}
        if user is not None:
            message["user"] = user
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
            message["parent_user_id"] = self._find(channel, thread_ts).get("user")
            if broadcast:
                message["subtype"] = "thread_broadcast"
        message.update(extra)
        self.messages[channel].append(message)
        return ts

    def edit(self, channel: str, ts: str, text: str) -> str:
        """Edit a message as Slack does: new text, `edited.ts` now; return the edit's ts."""
        message = self._find(channel, ts)
        edited_ts = self.next_ts()
        message["text"] = text
        message["edited"] = {"user": message.get("user"), "ts": edited_ts}
        return edited_ts

    def delete(self, channel: str, ts: str) -> None:
        """Delete a message; a thread root with replies leaves a tombstone, as in Slack."""
        message = self._find(channel, ts)
        if self._replies(channel, ts):
            message.clear()
            message.update(
                {
                    "type": "message",
                    "subtype": "tombstone",
                    "hidden": True,
                    "user": "USLACKBOT",
                    "text": "This message was deleted.",
                    "ts": ts,
                    "thread_ts": ts,
                }
            )
        else:
            self.messages[channel].remove(message)

    def add_file(self, file_id: str, **fields: Any) -> dict[str, Any]:
        """Add a file object served by files.info."""
        self.files[file_id] = {"id": file_id, **fields}
        return self.files[file_id]

    # --- faults ----------------------------------------------------------------------------

    def rate_limit(self, method: str, *, times: int | None = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls of `method` (every call: None) with HTTP 429."""
        self._add_fault(
            method,
            None,
            _Fault(
                status=429,
                body={"ok": False, "error": "ratelimited"},
                headers={"Retry-After": str(retry_after)},
                times=times,
            ),
        )

    def unavailable(self, method: str, *, times: int | None = 1) -> None:
        """Answer the next `times` calls of `method` with HTTP 503 (an HTML page)."""
        self._add_fault(method, None, _Fault(status=503, body={}, times=times))

    def fail(self, method: str, error: str, *, channel: str | None = None, **fields: Any) -> None:
        """Answer every call of `method` (about `channel`, if given) with `error`."""
        self._add_fault(
            method, channel, _Fault(status=200, body={"ok": False, "error": error, **fields})
        )

    def calls_of(self, method: str) -> list[dict[str, str]]:
        """Return the parameters of every call of `method`, in order."""
        return [params for name, params in self.calls if name == method]

    def _add_fault(self, method: str, channel: str | None, fault: _Fault) -> None:
        self._faults.setdefault((method, channel), []).append(fault)

    def _fault(self, method: str, channel: str | None) -> _Fault | None:
        for key in ((method, channel), (method, None)):
            for fault in self._faults.get(key, []):
                if fault.times is None:
                    return fault
                if fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    # --- answering -------------------------------------------------------------------------

    def answer(
        self, method: str, params: dict[str, str], authorization: str
    ) -> tuple[int, dict[str, str], bytes]:
        """Return (status, headers, body) for one call, as Slack would."""
        with self._lock:
            self.calls.append((method, params))
            fault = self._fault(method, params.get("channel"))
            if fault is not None:
                if fault.status == 503:
                    return 503, {"Content-Type": "text/html"}, b"<html>Service Unavailable</html>"
                return fault.status, fault.headers, json.dumps(fault.body).encode()
            token = authorization.removeprefix("Bearer ").strip() or params.get("token", "")
            if not token:
                return _json({"ok": False, "error": "not_authed"})
            if token != self.token:
                return _json({"ok": False, "error": "invalid_auth"})
            handler = getattr(self, "_" + method.replace(".", "_"), None)
            if handler is None:
                return _json({"ok": False, "error": "unknown_method"})
            try:
                return _json({"ok": True, **handler(params)})
            except _SlackError as exc:
                return _json({"ok": False, "error": exc.code, **exc.fields})

    def _need(self, scope: str) -> None:
        if scope not in self.scopes:
            raise _SlackError("missing_scope", needed=scope, provided=",".join(sorted(self.scopes)))

    def _channel(self, params: dict[str, str], *, history: bool) -> dict[str, Any]:
        channel = self.channels.get(params.get("channel", ""))
        if channel is None:
            raise _SlackError("channel_not_found")
        self._need(TYPE_SCOPES[channel["_type"]][1 if history else 0])
        if history and BOT_USER not in self.members[channel["id"]]:
            raise _SlackError("not_in_channel")
        return channel

    def _page(self, items: list[Any], params: dict[str, str]) -> tuple[list[Any], dict[str, Any]]:
        """Return one page of `items` and its response_metadata."""
        start = 0
        if cursor := params.get("cursor"):
            start = int(base64.b64decode(cursor).decode().removeprefix("offset:"))
        limit = min(int(params.get("limit") or 100), self.page_size)
        page = items[start : start + limit]
        more = start + limit < len(items)
        next_cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""
        return page, {"next_cursor": next_cursor}

    def _auth_test(self, params: dict[str, str]) -> dict[str, Any]:
        return {
            "url": self.team_url,
            "team": "Acme",
            "user": "colleague",
            "team_id": TEAM_ID,
            "user_id": BOT_USER,
            "bot_id": "BCOLLEAGU",
            "is_enterprise_install": False,
        }

    def _users_list(self, params: dict[str, str]) -> dict[str, Any]:
        self._need("users:read")
        users = json.loads(json.dumps(self.users))
        if "users:read.email" not in self.scopes:
            for user in users:
                user["profile"].pop("email", None)
        page, metadata = self._page(users, params)
        return {"members": page, "cache_ts": int(START), "response_metadata": metadata}

    def _users_info(self, params: dict[str, str]) -> dict[str, Any]:
        self._need("users:read")
        found = [u for u in self.users if u["id"] == params.get("user")]
        if not found:
            raise _SlackError("user_not_found")
        user = json.loads(json.dumps(found[0]))
        if "users:read.email" not in self.scopes:
            user["profile"].pop("email", None)
        return {"user": user}

    def _conversations_list(self, params: dict[str, str]) -> dict[str, Any]:
        types = (params.get("types") or "public_channel").split(",")
        for kind in types:
            self._need(TYPE_SCOPES[kind][0])
        found = []
        for channel in self.channels.values():
            if channel["_type"] not in types:
                continue
            member = BOT_USER in self.members[channel["id"]]
            if channel["_type"] != "public_channel" and not member:
                continue  # private conversations are listed to their members only
            record = {k: v for k, v in channel.items() if not k.startswith("_")}
            if channel["_type"] != "im":
                record["is_member"] = member
                record["num_members"] = len(self.members[channel["id"]])
            found.append(record)
        page, metadata = self._page(found, params)
        return {"channels": page, "response_metadata": metadata}

    def _conversations_members(self, params: dict[str, str]) -> dict[str, Any]:
        channel = self._channel(params, history=False)
        page, metadata = self._page(self.members[channel["id"]], params)
        return {"members": page, "response_metadata": metadata}

    def _conversations_history(self, params: dict[str, str]) -> dict[str, Any]:
        channel = self._channel(params, history=True)
        channel_id = channel["id"]
        top = [
            self._with_thread_info(channel_id, message)
            for message in self.messages[channel_id]
            if message.get("thread_ts") in (None, message["ts"])
            or message.get("subtype") == "thread_broadcast"
        ]
        top = _between(top, params)
        top.sort(key=lambda message: Decimal(message["ts"]), reverse=True)
        page, metadata = self._page(top, params)
        return {
            "messages": page,
            "has_more": bool(metadata["next_cursor"]),
            "pin_count": 0,
            "response_metadata": metadata,
        }

    def _conversations_replies(self, params: dict[str, str]) -> dict[str, Any]:
        channel = self._channel(params, history=True)
        thread_ts = params.get("ts", "")
        root = next((m for m in self.messages[channel["id"]] if m.get("ts") == thread_ts), None)
        if root is None:
            raise _SlackError("thread_not_found")
        thread = [self._with_thread_info(channel["id"], root)]
        thread += _between(self._replies(channel["id"], thread_ts), params)
        page, metadata = self._page(thread, params)
        return {
            "messages": page,
            "has_more": bool(metadata["next_cursor"]),
            "response_metadata": metadata,
        }

    def _files_info(self, params: dict[str, str]) -> dict[str, Any]:
        self._need("files:read")
        file = self.files.get(params.get("file", ""))
        if file is None:
            raise _SlackError("file_not_found")
        return {"file": file, "comments": [], "response_metadata": {"next_cursor": ""}}

    def _find(self, channel: str, ts: str) -> dict[str, Any]:
        return next(m for m in self.messages[channel] if m.get("ts") == ts)

    def _replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        replies = [
            message
            for message in self.messages[channel]
            if message.get("thread_ts") == thread_ts and message["ts"] != thread_ts
        ]
        return sorted(replies, key=lambda message: Decimal(message["ts"]))

    def _with_thread_info(self, channel: str, message: dict[str, Any]) -> dict[str, Any]:
        """Return a root as history shows it: reply_count, latest_reply, reply_users."""
        replies = self._replies(channel, message["ts"])
        if not replies:
            return dict(message)
        return {
            **message,
            "thread_ts": message["ts"],
            "reply_count": len(replies),
            "reply_users": sorted({reply.get("user", "") for reply in replies} - {""}),
            "latest_reply": replies[-1]["ts"],
        }


class _SlackError(Exception):
    def __init__(self, code: str, **fields: Any) -> None:
        super().__init__(code)
        self.code = code
        self.fields = fields


def _between(messages: list[dict[str, Any]], params: dict[str, str]) -> list[dict[str, Any]]:
    """Keep messages inside `oldest`/`latest` (exclusive unless `inclusive`)."""
    inclusive = params.get("inclusive") in ("1", "true")
    oldest = Decimal(params["oldest"]) if params.get("oldest") else None
    latest = Decimal(params["latest"]) if params.get("latest") else None

    def inside(message: dict[str, Any]) -> bool:
        ts = Decimal(message["ts"])
        if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
            return False
        return not (latest is not None and (ts > latest or (ts == latest and not inclusive)))

    return [message for message in messages if inside(message)]


def _json(body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body).encode()


def _handler(slack: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve(b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._serve(self.rfile.read(length))

        def _serve(self, body: bytes) -> None:
            url = urlsplit(self.path)
            if url.path.startswith("/commands/"):
                self._respond(url.path.rsplit("/", 1)[-1], body)
                return
            method = url.path.removeprefix("/api/")
            params = {key: values[-1] for key, values in parse_qs(url.query).items()}
            if body:
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    params.update({k: str(v) for k, v in json.loads(body).items()})
                else:
                    parsed = parse_qs(body.decode())
                    params.update({key: values[-1] for key, values in parsed.items()})
            status, headers, payload = slack.answer(
                method, params, self.headers.get("Authorization", "")
            )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _respond(self, name: str, body: bytes) -> None:
            """A post to a response URL: kept, and answered as Slack does ("ok")."""
            with slack._lock:
                slack.responses.setdefault(name, []).append(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    return Handler
