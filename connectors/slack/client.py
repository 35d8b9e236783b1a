"""A thin wrapper over slack-sdk's `WebClient`: the few Web API methods the connector calls.

Methods return plain JSON values and follow `response_metadata.next_cursor` to the last page.
They raise only typed errors (subclasses of `ConnectorError`), never slack-sdk's:

- the token is refused (`invalid_auth`, `token_revoked`...): `SlackAuthError`, a config error;
- the app lacks a scope (`missing_scope`): `SlackScopeError`, naming the scope Slack needs;
- one conversation cannot be read (`not_in_channel`, `channel_not_found`): `SlackChannelError`;
- Slack cannot be reached, answers 5xx, or still rate-limits after the retries allowed:
  `SourceUnavailableError`;
- any other refusal: `SlackApiFailure`.

HTTP 429 is retried after the `Retry-After` seconds Slack asks for, a bounded number of times;
5xx and dropped connections are retried with a short backoff. The token is sent only to
`base_url` and never appears in an error message.
"""

from __future__ import annotations

import http.client
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RetryHandler, RetryState
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.web import SlackResponse

from connectors.errors import ConnectorConfigError, ConnectorError, SourceUnavailableError

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://slack.com/api/"

# https://docs.slack.dev/reference/methods/auth.test and every method's "Errors" table.
AUTH_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "not_allowed_token_type",
        "team_access_not_granted",
        "ekm_access_denied",
    }
)
# Errors about one conversation: the rest of the workspace can still be read.
CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found"})
# Slack-side trouble that a later sync may not meet.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
# Which `channel_types` entry a read scope serves, to say what else would fix its absence.
SCOPE_CHANNEL_TYPES = {
    "channels:read": "public_channel",
    "channels:history": "public_channel",
    "groups:read": "private_channel",
    "groups:history": "private_channel",
    "mpim:read": "mpim",
    "mpim:history": "mpim",
    "im:read": "im",
    "im:history": "im",
}


class SlackAuthError(ConnectorConfigError):
    """Slack refused the token: it is wrong, revoked, or its app was uninstalled."""


class SlackScopeError(ConnectorConfigError):
    """The Slack app lacks a scope a method needs; `needed` names it as Slack does."""

    def __init__(self, message: str, *, needed: str) -> None:
        super().__init__(message)
        self.needed = needed


class SlackChannelError(ConnectorError):
    """One conversation cannot be read (`code`: not_in_channel, channel_not_found)."""

    def __init__(self, message: str, *, channel: str, code: str) -> None:
        super().__init__(message)
        self.channel = channel
        self.code = code


class SlackApiFailure(ConnectorError):
    """Slack refused a call for a reason no other error covers (`code` is Slack's)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class RetryPolicy:
    """How long the client keeps trying before it gives up with SourceUnavailableError."""

    rate_limit_retries: int = 3
    # Slack asking to wait longer than this for one call ends the sync; the next one resumes.
    max_retry_after: float = 120.0
    server_error_retries: int = 2
    connection_retries: int = 2
    timeout: int = 30  # seconds per HTTP request


class RetryAfterHandler(RetryHandler):
    """Retries HTTP 429 after the `Retry-After` seconds Slack sent (1 s if it sent none).

    At most `max_retry_count` times per call, and only while the wait asked for is at most
    `max_wait` seconds; otherwise the 429 is returned to the caller.
    """

    def __init__(self, *, max_retry_count: int, max_wait: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return (
            response is not None
            and response.status_code == 429
            and retry_after(response.headers) <= self.max_wait
        )

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = retry_after(response.headers if response is not None else {})
        logger.info("Slack rate-limited %s; retrying in %.0f s", request.url, wait)
        time.sleep(wait)
        state.increment_current_attempt()
        state.next_attempt_requested = True


def retry_after(headers: Mapping[str, Any]) -> float:
    """Return the seconds a `Retry-After` header asks for (1.0 when absent or malformed)."""
    for name, value in headers.items():
        if name.lower() != "retry-after":
            continue
        text = value[0] if isinstance(value, list | tuple) and value else value
        try:
            seconds = float(str(text).strip())
        except ValueError:
            return 1.0
        return seconds if 0 <= seconds < 1e9 else 1.0
    return 1.0


class SlackClient:
    """The Slack Web API calls the connector makes, through one `WebClient`."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        page_size: int = 200,
        retry: RetryPolicy | None = None,
    ) -> None:
        policy = retry or RetryPolicy()
        self.policy = policy
        self.page_size = page_size
        self.web = WebClient(
            token=token,
            base_url=base_url or DEFAULT_BASE_URL,
            timeout=policy.timeout,
            retry_handlers=[
                RetryAfterHandler(
                    max_retry_count=policy.rate_limit_retries, max_wait=policy.max_retry_after
                ),
                ServerErrorRetryHandler(max_retry_count=policy.server_error_retries),
                ConnectionErrorRetryHandler(max_retry_count=policy.connection_retries),
            ],
        )

    # --- methods ---------------------------------------------------------------------------

    def auth_test(self) -> dict[str, Any]:
        """Return auth.test: `team_id`, `url` (https://acme.slack.com/), `user_id`..."""
        return self._call("auth.test", self.web.auth_test)

    def users(self) -> Iterator[dict[str, Any]]:
        """Yield every user of the workspace (users.list), bots and deactivated ones too."""
        return self._pages("users.list", "members", self.web.users_list)

    def conversations(self, types: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Yield the conversations of `types` the token can see (conversations.list).

        Public channels are listed whether or not the app is in them (`is_member`); private
        channels, group DMs and DMs only when it is.
        """
        return self._pages(
            "conversations.list",
            "channels",
            self.web.conversations_list,
            types=",".join(types),
            exclude_archived=False,
        )

    def members(self, channel: str) -> Iterator[str]:
        """Yield the user ids of a conversation's current members (conversations.members)."""
        return self._pages(
            "conversations.members",
            "members",
            self.web.conversations_members,
            item_type=str,
            channel=channel,
        )

    def history(self, channel: str, *, oldest: str | None = None) -> Iterator[dict[str, Any]]:
        """Yield a conversation's top-level messages newer than `oldest`, newest first.

        Thread replies are not included, except those also sent to the channel.
        """
        params: dict[str, Any] = {"channel": channel}
        if oldest is not None:
            params["oldest"] = oldest
        return self._pages(
            "conversations.history", "messages", self.web.conversations_history, **params
        )

    def replies(self, channel: str, thread_ts: str) -> Iterator[dict[str, Any]]:
        """Yield a thread: its root first, then every reply, oldest first."""
        return self._pages(
            "conversations.replies",
            "messages",
            self.web.conversations_replies,
            channel=channel,
            ts=thread_ts,
        )

    def file_info(self, file_id: str) -> dict[str, Any]:
        """Return the file object of files.info (title, name, `preview` of text files)."""
        data = self._call("files.info", self.web.files_info, file=file_id)
        file = data.get("file")
        return file if isinstance(file, dict) else {}

    # --- plumbing --------------------------------------------------------------------------

    def _pages(
        self,
        method: str,
        key: str,
        call: Callable[..., SlackResponse],
        *,
        item_type: type = dict,
        **params: Any,
    ) -> Iterator[Any]:
        """Yield the items under `key` of every page, following `next_cursor`.

        Items that are not of `item_type` (JSON objects, or strings for ids) are dropped.
        """
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page_params = {**params, "limit": self.page_size}
            if cursor:
                page_params["cursor"] = cursor
            data = self._call(method, call, **page_params)
            items = data.get(key)
            if not isinstance(items, list):
                raise SlackApiFailure(
                    f"Slack's {method} answer has no list under {key!r}", code="bad_response"
                )
            yield from (item for item in items if isinstance(item, item_type))
            metadata = data.get("response_metadata")
            next_cursor = metadata.get("next_cursor") if isinstance(metadata, dict) else None
            if not isinstance(next_cursor, str) or not next_cursor:
                return
            if next_cursor in seen:
                raise SlackApiFailure(
                    f"Slack's {method} returned the same page cursor twice", code="cursor_loop"
                )
            seen.add(next_cursor)
            cursor = next_cursor

    def _call(self, method: str, call: Callable[..., SlackResponse], **params: Any) -> Any:
        """Make one call (retried as the policy allows) and return its JSON object."""
        try:
            response = call(**params)
        except SlackApiError as exc:
            raise self._api_error(method, exc.response, params) from None
        except (URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise SourceUnavailableError(
                f"cannot reach Slack at {self.web.base_url} ({method}): {reason}"
            ) from None
        except SlackClientError as exc:
            raise ConnectorConfigError(f"Slack client refused {method}: {exc}") from None
        data = response.data
        if not isinstance(data, dict):
            raise SlackApiFailure(f"Slack's {method} answer is not a JSON object", code="bad_body")
        return data

    def _api_error(
        self, method: str, response: SlackResponse, params: Mapping[str, Any]
    ) -> ConnectorError:
        data = response.data if isinstance(response.data, dict) else {}
        code = str(data.get("error") or "unknown_error")[:200]
        status = response.status_code
        if status == 429:
            wait = retry_after(response.headers)
            if wait > self.policy.max_retry_after:
                return SourceUnavailableError(
                    f"Slack is rate-limiting {method} and asks to wait {wait:.0f} s, longer "
                    f"than a sync waits ({self.policy.max_retry_after:.0f} s); the next sync "
                    "resumes from here"
                )
            return SourceUnavailableError(
                f"Slack is rate-limiting {method} (it asks to wait {wait:.0f} s) after "
                f"{self.policy.rate_limit_retries} retries; the next sync resumes from here"
            )
        if status >= 500 or code in TRANSIENT_ERRORS:
            # A 5xx body is often an HTML page: name Slack's error code only if it sent one.
            detail = f", {code}" if code in TRANSIENT_ERRORS else ""
            return SourceUnavailableError(
                f"Slack could not answer {method} (HTTP {status}{detail}); "
                "the next sync resumes from here"
            )
        if code in AUTH_ERRORS:
            return SlackAuthError(
                f"Slack refused the token ({code}): check the bot token (xoxb-...) in the "
                "source's credentials; reinstall the Slack app if it was removed or rotated"
            )
        if code == "missing_scope":
            needed = str(data.get("needed") or "a scope")[:200]
            hint = ""
            types = sorted(
                {SCOPE_CHANNEL_TYPES[s] for s in needed.split(",") if s in SCOPE_CHANNEL_TYPES}
            )
            if types:
                hint = f", or leave {', '.join(types)} out of the source's channel_types"
            return SlackScopeError(
                f"the Slack app lacks the scope {needed} that {method} needs: add it under "
                "OAuth & Permissions (connectors/slack/manifest.yml lists every scope) and "
                f"reinstall the app{hint}",
                needed=needed,
            )
        channel = str(params.get("channel") or "")
        if code in CHANNEL_ERRORS and channel:
            return SlackChannelError(
                f"{method} refused conversation {channel}: {code}", channel=channel, code=code
            )
        if status != 200:
            return SlackApiFailure(
                f"Slack answered {method} with HTTP {status}: is base_url "
                f"{self.web.base_url} the Slack Web API?",
                code=f"http_{status}",
            )
        return SlackApiFailure(f"Slack refused {method}: {code}", code=code)
