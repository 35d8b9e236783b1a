"""What is never captured (issue 7, item 5): rules per source plus organisation-wide ones.

A source's rules live in its plain config (`Source.config`), next to what its connector reads:

    {"exclude": {"containers": ["hr-*", "legal/*"],
                 "senders": ["*@legal.example.com", "U024BE7LH"],
                 "keywords": ["medical leave", "grievance"]},
     "include_direct_messages": false}

- **containers**: glob patterns (`fnmatch`, case-insensitive) matched against a container's
  external id and its name: Slack channel names (`#` optional) or ids, mail folders, document
  folder paths. A pattern matching a folder also excludes every folder below it.
- **senders**: glob patterns matched against every address of a document's author: the mail
  address, the Slack user id (alone or as `<workspace>/<user id>`), the address the Slack
  profile gives, and the addresses of the colleague the author is linked to.
- **keywords**: words or phrases matched case-insensitively as whole words in the title or body.
- Direct messages and group DMs are excluded unless `include_direct_messages` is true.

The settings COLLEAGUE_EXCLUDE_CONTAINERS, COLLEAGUE_EXCLUDE_SENDERS and
COLLEAGUE_EXCLUDE_KEYWORDS add rules for every source. Pure functions: `knowledge.actions`
applies them to each batch before anything is stored, and `connectors.actions` removes what
newly added rules exclude.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from django.conf import settings

from connectors.errors import ConnectorConfigError

Reason = Literal["direct_message", "container", "sender", "keyword"]
REASONS: Final[tuple[Reason, ...]] = ("direct_message", "container", "sender", "keyword")
DIRECT_MESSAGE_KINDS: Final = frozenset({"dm", "mpim"})
RULE_FIELDS: Final = ("containers", "senders", "keywords")


@dataclass(frozen=True)
class ExclusionRules:
    """The rules in force for one source: its own plus the organisation's."""

    containers: tuple[str, ...] = ()
    senders: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    include_direct_messages: bool = False

    @property
    def fingerprint(self) -> str:
        """A digest of the rules: it changes exactly when what they exclude may change."""
        payload = json.dumps(
            [
                sorted(self._container_patterns),
                sorted(self._sender_patterns),
                sorted(k.lower() for k in self.keywords),
                self.include_direct_messages,
            ]
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def container_reason(self, *, external_id: str, name: str, kind: str) -> Reason | None:
        """Why documents in this container are excluded, or None if they are not."""
        if kind in DIRECT_MESSAGE_KINDS and not self.include_direct_messages:
            return "direct_message"
        if self._container_patterns and any(
            _matches(self._container_patterns, candidate)
            for candidate in _container_candidates(external_id, name)
        ):
            return "container"
        return None

    def excludes_sender(self, addresses: Iterable[str]) -> bool:
        """True if any of an author's addresses matches a sender rule."""
        patterns = self._sender_patterns
        return bool(patterns) and any(
            _matches(patterns, address.strip().lower()) for address in addresses if address
        )

    def mentions_keyword(self, *texts: str) -> bool:
        """True if any text holds an excluded word or phrase (whole words, any case)."""
        pattern = self._keyword_pattern
        return pattern is not None and any(pattern.search(text) for text in texts if text)

    @functools.cached_property
    def _container_patterns(self) -> frozenset[str]:
        return frozenset(_normalise_container(p) for p in self.containers if p.strip())

    @functools.cached_property
    def _sender_patterns(self) -> frozenset[str]:
        return frozenset(p.strip().lower() for p in self.senders if p.strip())

    @functools.cached_property
    def _keyword_pattern(self) -> re.Pattern[str] | None:
        phrases = sorted({" ".join(k.split()).lower() for k in self.keywords if k.strip()})
        if not phrases:
            return None
        alternatives = "|".join(r"\s+".join(map(re.escape, p.split(" "))) for p in phrases)
        return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def rules_for(config: Mapping[str, Any]) -> ExclusionRules:
    """Return the rules in force for a source with this config: its own plus the settings'."""
    own = source_rules(config)
    return ExclusionRules(
        containers=(*own.containers, *_setting("COLLEAGUE_EXCLUDE_CONTAINERS")),
        senders=(*own.senders, *_setting("COLLEAGUE_EXCLUDE_SENDERS")),
        keywords=(*own.keywords, *_setting("COLLEAGUE_EXCLUDE_KEYWORDS")),
        include_direct_messages=own.include_direct_messages,
    )


def source_rules(config: Mapping[str, Any]) -> ExclusionRules:
    """Return the source's own rules from its config; ConnectorConfigError if malformed."""
    exclude = config.get("exclude") or {}
    if not isinstance(exclude, Mapping):
        raise ConnectorConfigError('"exclude" must be an object of lists')
    lists: dict[str, tuple[str, ...]] = {}
    for name in RULE_FIELDS:
        values = exclude.get(name) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ConnectorConfigError(f'"exclude.{name}" must be a list of strings')
        lists[name] = tuple(v.strip() for v in values if v.strip())
    unknown = set(exclude) - set(RULE_FIELDS)
    if unknown:
        raise ConnectorConfigError(f'"exclude" has unknown keys: {", ".join(sorted(unknown))}')
    include_dms = config.get("include_direct_messages", False)
    if not isinstance(include_dms, bool):
        raise ConnectorConfigError('"include_direct_messages" must be true or false')
    return ExclusionRules(**lists, include_direct_messages=include_dms)


def config_with_rules(config: Mapping[str, Any], rules: ExclusionRules) -> dict[str, Any]:
    """Return `config` carrying `rules` as the source's own (empty lists are left out)."""
    updated = {k: v for k, v in config.items() if k not in ("exclude", "include_direct_messages")}
    exclude = {name: list(getattr(rules, name)) for name in RULE_FIELDS if getattr(rules, name)}
    if exclude:
        updated["exclude"] = exclude
    if rules.include_direct_messages:
        updated["include_direct_messages"] = True
    return updated


def _setting(name: str) -> tuple[str, ...]:
    return tuple(str(v).strip() for v in getattr(settings, name, ()) if str(v).strip())


def _normalise_container(value: str) -> str:
    return value.strip().lower().lstrip("#").rstrip("/")


def _container_candidates(external_id: str, name: str) -> set[str]:
    """The names a container pattern is matched against: its id and name, and for a folder
    path each folder above it (a rule on `legal` excludes `legal/contracts`)."""
    candidates: set[str] = set()
    for value in (external_id, name):
        value = _normalise_container(value)
        if not value:
            continue
        parts = value.split("/")
        candidates.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return candidates


def _matches(patterns: frozenset[str], value: str) -> bool:
    return value in patterns or any(fnmatch.fnmatchcase(value, p) for p in patterns)
