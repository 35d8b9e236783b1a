"""A thin wrapper over python-ldap: bind as the service account, search page by page.

The only code that talks to the directory server for the sync. It reads; it never writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import ldap
from ldap.controls import SimplePagedResultsControl

from connectors.directory.conf import DirectoryConfig
from connectors.directory.parsing import (
    DirectoryPerson,
    group_members,
    groups_filter,
    login_filter,
    normalize_dn,
    people_filter,
    person_from_entry,
)
from connectors.errors import ConnectorConfigError, SourceUnavailableError

Entry = tuple[str, dict[str, list[bytes]]]


def connect(config: DirectoryConfig) -> Any:
    """An unbound LDAPObject for the configured server, with timeouts and no referral
    chasing (Active Directory returns referrals that python-ldap would follow anonymously)."""
    connection = ldap.initialize(config.server_uri)
    connection.set_option(ldap.OPT_PROTOCOL_VERSION, ldap.VERSION3)
    connection.set_option(ldap.OPT_REFERRALS, 0)
    connection.set_option(ldap.OPT_NETWORK_TIMEOUT, config.timeout)
    connection.set_option(ldap.OPT_TIMEOUT, config.timeout)
    return connection


class DirectoryClient:
    """A connection bound as LDAP_BIND_DN (anonymous when it is empty); use as a context
    manager. Errors become SourceUnavailableError (server unreachable, busy) or
    ConnectorConfigError (refused bind, bad base or filter)."""

    def __init__(self, config: DirectoryConfig) -> None:
        self.config = config
        self._connection: Any = None

    def __enter__(self) -> DirectoryClient:
        try:
            self._connection = connect(self.config)
            self._connection.simple_bind_s(self.config.bind_dn, self.config.bind_password)
        except ldap.LDAPError as exc:
            self.close()
            raise _error(exc, f"cannot bind to {self.config.server_uri}") from exc
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(ldap.LDAPError):
                self._connection.unbind_s()
            self._connection = None

    def search(self, base: str, search_filter: str, attrs: list[str]) -> Iterator[Entry]:
        """Every entry below `base` matching `search_filter`, read with the simple paged
        results control (RFC 2696) LDAP_PAGE_SIZE entries at a time: servers cut unpaged
        searches at a size limit (Active Directory's MaxPageSize, 1000 by default)."""
        control = SimplePagedResultsControl(True, size=self.config.page_size, cookie="")
        while True:
            try:
                message_id = self._connection.search_ext(
                    base, ldap.SCOPE_SUBTREE, search_filter, attrs, serverctrls=[control]
                )
                _, entries, _, controls = self._connection.result3(message_id)
            except ldap.LDAPError as exc:
                raise _error(exc, f"search of {base} failed") from exc
            for dn, entry_attrs in entries:
                if dn is not None:  # None: a search continuation reference
                    yield dn, entry_attrs
            cookie = next(
                (
                    c.cookie
                    for c in controls
                    if c.controlType == SimplePagedResultsControl.controlType
                ),
                b"",
            )
            if not cookie:
                return
            control.cookie = cookie

    def people(self, *, modified_since: str = "") -> Iterator[DirectoryPerson | ValueError]:
        """Everyone under LDAP_USER_BASE (or those modified since), as DirectoryPerson; an
        entry that cannot be read (no login name) comes as the ValueError saying why."""
        search_filter = people_filter(self.config, modified_since=modified_since)
        for dn, attrs in self.search(self.config.user_base, search_filter, self.config.read_attrs):
            try:
                yield person_from_entry(dn, attrs, self.config)
            except ValueError as exc:
                yield exc

    def find_people(self, login: str) -> list[DirectoryPerson]:
        """The people whose login name equals `login` (any text: it is escaped)."""
        search_filter = login_filter(self.config, login)
        found = []
        for dn, attrs in self.search(self.config.user_base, search_filter, self.config.read_attrs):
            try:
                found.append(person_from_entry(dn, attrs, self.config))
            except ValueError:
                continue
        return found

    def group_memberships(self) -> dict[str, set[str]]:
        """Normalized group DN -> normalized member DNs, for every group under LDAP_GROUP_BASE."""
        groups: dict[str, set[str]] = {}
        attrs = [self.config.group_member_attr]
        for dn, entry_attrs in self.search(
            self.config.group_base, groups_filter(self.config), attrs
        ):
            try:
                groups[normalize_dn(dn)] = group_members(entry_attrs, self.config)
            except ValueError:
                continue
        return groups


def _error(exc: ldap.LDAPError, context: str) -> Exception:
    detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    message = f"{context}: {detail.get('desc', type(exc).__name__)}"
    if detail.get("info"):
        message += f" ({detail['info']})"
    if isinstance(exc, ldap.SERVER_DOWN | ldap.TIMEOUT | ldap.BUSY | ldap.UNAVAILABLE):
        return SourceUnavailableError(message)
    return ConnectorConfigError(message)
