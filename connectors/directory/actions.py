"""Writes of the directory: the sync into colleagues, departures, roles and login links.

The directory is the authority on names, mail addresses, titles, departments and managers of
the people it holds. It never deletes anything: a disabled account, or one gone from the
directory (seen by a full pass), marks its colleague departed with departed_on today and sends
`colleague_departed`. An account enabled again is reported (`reenabled`, an audit event), and
its colleague stays departed unless LDAP_REINSTATE_REENABLED is on: re-hiring someone is an HR
decision that the offboarding case has to see, not a side effect of a directory change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from colleagues.actions import create_colleague, link_login
from colleagues.models import Colleague
from colleagues.roles import ensure_roles
from connectors.directory.conf import (
    DirectoryConfig,
    load_config,
    managed_roles,
    roles_for_groups,
)
from connectors.directory.models import DirectoryAccount, DirectorySyncState
from connectors.directory.signals import colleague_departed
from connectors.errors import ConnectorConfigError
from knowledge import audit
from knowledge.tombstones import erased_hashes, is_erased_address

if TYPE_CHECKING:
    from connectors.directory.parsing import DirectoryPerson

logger = logging.getLogger(__name__)

# Entries written per transaction: a crash loses at most one chunk, which the next run
# (from the unchanged high-water mark) writes again.
CHUNK = 200

ProgressCallback = Callable[[int, int], None]


@dataclass
class DirectorySyncResult:
    """What one sync did; `summary()` is the command's JSON."""

    mode: str  # "full" or "incremental"
    read: int = 0
    created: int = 0
    updated: int = 0
    departed: int = 0
    unchanged: int = 0
    groups: int = 0
    # Login names of accounts enabled again whose colleague is departed (and stays so unless
    # LDAP_REINSTATE_REENABLED), and of those reinstated.
    reenabled: list[str] = field(default_factory=list)
    reinstated: list[str] = field(default_factory=list)
    # Entries that could not be read, and changes not made (a mail address taken).
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # Entries of people erased here, left alone.
    erased: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "departed": self.departed,
            "unchanged": self.unchanged,
            "groups": self.groups,
            "seconds": round(self.seconds, 3),
            "mode": self.mode,
            "read": self.read,
            "reenabled": self.reenabled,
            "reinstated": self.reinstated,
            "warnings": self.warnings,
            "erased_skipped": self.erased,
        }


def sync_directory(
    *, full: bool = False, on_progress: ProgressCallback | None = None
) -> DirectorySyncResult:
    """Read the directory and apply it to colleagues; audit the run.

    Incremental (entries whose modifyTimestamp is at or after the last run's latest) when a
    high-water mark exists and no full pass is due (LDAP_FULL_SYNC_HOURS); full otherwise or
    when `full`. Only a full pass can see that an entry is gone. Raises ConnectorConfigError
    or SourceUnavailableError (the server), ImproperlyConfigured (the settings).
    """
    from connectors.directory.client import DirectoryClient
    from connectors.directory.parsing import DirectoryPerson, latest_timestamp

    started = time.perf_counter()
    config = load_config()
    state, _ = DirectorySyncState.objects.get_or_create(directory=config.state_key)
    now = timezone.now()
    full = full or not state.high_water or _full_pass_due(state, config, now)
    since = "" if full else state.high_water
    with DirectoryClient(config) as client:
        memberships = client.group_memberships() if config.group_base else None
        read = list(client.people(modified_since=since))
    people = [entry for entry in read if isinstance(entry, DirectoryPerson)]
    result = DirectorySyncResult(mode="full" if full else "incremental", read=len(people))
    # People erased here (knowledge.erasure) stay erased, whatever the directory still holds.
    erased = erased_hashes()
    kept = [p for p in people if not is_erased_address(p.email, erased)]
    result.erased = len(people) - len(kept)
    people = kept
    result.warnings.extend(f"skipped {entry}" for entry in read if isinstance(entry, ValueError))
    writer = _Writer(config, result, now=now)
    writer.load_accounts()
    if full and not people and any(a.removed_at is None for a in writer.accounts.values()):
        raise ConnectorConfigError(
            "the directory returned nobody: check LDAP_USER_BASE and LDAP_USER_FILTER "
            "(no one was marked departed)"
        )
    if memberships is not None:
        result.groups = len(memberships)
        writer.groups_by_member = _invert(memberships)
    else:
        result.groups = len({dn for person in people for dn in person.group_dns})

    for start in range(0, len(people), CHUNK):
        with transaction.atomic():
            for person in people[start : start + CHUNK]:
                writer.apply(person)
        if on_progress is not None:
            on_progress(min(start + CHUNK, len(people)), len(people))
    with transaction.atomic():
        writer.link_managers(people)
        if memberships is not None and not full:
            writer.refresh_unread_groups({person.key for person in people})
        if full:
            writer.mark_removed({person.key for person in people})
        writer.mark_seen([person.key for person in people])
    writer.count()

    if people:
        state.high_water = latest_timestamp([person.modified for person in people])
    if full:
        state.last_full_at = now
    state.last_run_at = now
    state.save(update_fields=["high_water", "last_full_at", "last_run_at"])
    result.seconds = time.perf_counter() - started
    audit.record(
        "directory.synced",
        "directory",
        mode=result.mode,
        read=result.read,
        created=result.created,
        updated=result.updated,
        departed=result.departed,
        unchanged=result.unchanged,
        groups=result.groups,
        reenabled=len(result.reenabled),
        warnings=len(result.warnings),
        seconds=round(result.seconds, 3),
    )
    return result


def record_login(*, user: User, person: DirectoryPerson, group_dns: Iterable[str]) -> None:
    """After an LDAP login: apply the person's entry (creating the colleague if the sync has not
    yet), link the login to that colleague, and set the user's role groups from `group_dns`."""
    config = load_config()
    result = DirectorySyncResult(mode="login")
    with transaction.atomic():
        writer = _Writer(config, result, now=timezone.now())
        writer.load_accounts(keys=[person.key])
        account = writer.apply(person, groups=sorted(group_dns))
        writer.link_managers([person])
        assert account.colleague is not None
        link_login(colleague=account.colleague, user=user)
        set_roles(user=user, group_dns=set(group_dns), config=config)


def set_roles(*, user: User, group_dns: set[str], config: DirectoryConfig) -> None:
    """Give `user` exactly the roles LDAP_ROLE_GROUPS grants for these groups, among the roles
    that setting names; roles it does not name are left as an administrator set them."""
    managed = managed_roles(config)
    if not managed:
        return
    wanted = roles_for_groups(config, group_dns)
    names = {role.value for role in managed}
    held = set(user.groups.filter(name__in=names).values_list("name", flat=True))
    add = {role.value for role in wanted} - held
    remove = held - {role.value for role in wanted}
    if not add and not remove:
        return
    if add and Group.objects.filter(name__in=add).count() < len(add):
        ensure_roles()
    user.groups.add(*Group.objects.filter(name__in=add))
    user.groups.remove(*Group.objects.filter(name__in=remove))
    audit.record(
        "directory.roles_set",
        f"user:{user.pk}",
        added=sorted(add),
        removed=sorted(remove),
    )


def _full_pass_due(state: DirectorySyncState, config: DirectoryConfig, now: datetime) -> bool:
    if config.full_sync_hours <= 0:
        return False
    if state.last_full_at is None:
        return True
    return now - state.last_full_at >= timedelta(hours=config.full_sync_hours)


def _invert(memberships: dict[str, set[str]]) -> dict[str, set[str]]:
    by_member: dict[str, set[str]] = {}
    for group, members in memberships.items():
        for member in members:
            by_member.setdefault(member, set()).add(group)
    return by_member


class _Writer:
    """Applies entries to accounts and colleagues, remembering what each entry led to."""

    def __init__(self, config: DirectoryConfig, result: DirectorySyncResult, *, now: datetime):
        self.config = config
        self.result = result
        self.now = now
        self.today = timezone.localdate(now)
        self.accounts: dict[str, DirectoryAccount] = {}
        # Group DNs by member DN from LDAP_GROUP_BASE; None: from the entries' memberOf.
        self.groups_by_member: dict[str, set[str]] | None = None
        # Entry key -> "created" | "updated" | "departed" | "unchanged".
        self.outcomes: dict[str, str] = {}

    def load_accounts(self, keys: Sequence[str] | None = None) -> None:
        accounts = DirectoryAccount.objects.select_related("colleague__user")
        if keys is not None:
            accounts = accounts.filter(key__in=keys)
        self.accounts = {account.key: account for account in accounts}

    def groups_for(self, person: DirectoryPerson) -> list[str]:
        if self.groups_by_member is not None:
            return sorted(self.groups_by_member.get(person.dn_key, set()))
        return sorted(person.group_dns)

    def apply(
        self, person: DirectoryPerson, *, groups: list[str] | None = None
    ) -> DirectoryAccount:
        """Write one entry: its account, its colleague's profile and status."""
        groups = self.groups_for(person) if groups is None else groups
        account = self.accounts.get(person.key)
        was_active = account is not None and account.pk is not None and account.is_active
        outcome = "unchanged"
        if account is None:
            account = DirectoryAccount(key=person.key, last_seen_at=self.now)
            self.accounts[person.key] = account
        colleague = account.colleague
        if colleague is None:
            colleague = self._colleague_for(person)
            if colleague is None:
                colleague = create_colleague(
                    name=person.name,
                    email=person.email if not self._email_taken(person.email, None) else "",
                    title=person.title,
                    # A disabled account first seen: someone who left before the sync began.
                    status=Colleague.Status.DEPARTED
                    if person.disabled
                    else Colleague.Status.CURRENT,
                )
                outcome = "created"
            elif account.pk is not None:
                outcome = "updated"
        if self._update_profile(colleague, person) and outcome == "unchanged":
            outcome = "updated"
        if account.pk is not None and account.group_dns != groups and outcome == "unchanged":
            outcome = "updated"

        if person.disabled:
            if colleague.status == Colleague.Status.CURRENT:
                self._depart(colleague, reason="disabled")
                outcome = "departed"
        elif colleague.is_departed and not was_active and outcome != "created":
            outcome = self._reenabled(colleague, person) or outcome

        self._save_account(account, person, colleague, groups)
        if colleague.user is not None:
            set_roles(user=colleague.user, group_dns=set(groups), config=self.config)
        self.outcomes[person.key] = outcome
        return account

    def _save_account(
        self,
        account: DirectoryAccount,
        person: DirectoryPerson,
        colleague: Colleague,
        groups: list[str],
    ) -> None:
        """Write what changed of the account (last_seen_at is written in bulk: mark_seen)."""
        fields: dict[str, object] = {
            "dn": person.dn[:1024],
            "dn_key": person.dn_key[:1024],
            "uid": person.uid[:255],
            "manager_dn_key": person.manager_dn_key[:1024],
            "group_dns": groups,
            "disabled": person.disabled,
            "removed_at": None,
            "modified": person.modified[:32],
        }
        stale = [name for name, value in fields.items() if getattr(account, name) != value]
        for name in stale:
            setattr(account, name, fields[name])
        if account.colleague_id != colleague.pk:
            stale.append("colleague")
        account.colleague = colleague
        if account.pk is None:
            account.save()
        elif stale:
            account.save(update_fields=stale)

    def mark_seen(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 500):
            DirectoryAccount.objects.filter(key__in=keys[start : start + 500]).update(
                last_seen_at=self.now
            )

    def link_managers(self, people: Sequence[DirectoryPerson]) -> None:
        """Point each person's colleague at their manager's, by the manager's DN."""
        manager_keys = {person.manager_dn_key for person in people if person.manager_dn_key}
        by_dn = {
            account.dn_key: account
            for account in DirectoryAccount.objects.filter(dn_key__in=manager_keys).exclude(
                colleague=None
            )
        }
        for person in people:
            colleague = self.accounts[person.key].colleague
            if colleague is None:
                continue
            manager = by_dn.get(person.manager_dn_key)
            manager_id = manager.colleague_id if manager is not None else None
            if manager_id == colleague.pk:
                manager_id = None
            if colleague.manager_id != manager_id:
                colleague.manager_id = manager_id
                colleague.save(update_fields=["manager", "updated_at"])
                if self.outcomes.get(person.key) == "unchanged":
                    self.outcomes[person.key] = "updated"

    def refresh_unread_groups(self, read_keys: set[str]) -> None:
        """An incremental pass: group changes do not touch the members' modifyTimestamp, so
        apply the groups just read to the accounts not read."""
        for key, account in self.accounts.items():
            if key in read_keys or account.pk is None or account.removed_at is not None:
                continue
            groups = sorted((self.groups_by_member or {}).get(account.dn_key, set()))
            if groups == account.group_dns:
                continue
            account.group_dns = groups
            account.save(update_fields=["group_dns"])
            self.outcomes[key] = "updated"
            colleague = account.colleague
            if colleague is not None and colleague.user is not None:
                set_roles(user=colleague.user, group_dns=set(groups), config=self.config)

    def mark_removed(self, read_keys: set[str]) -> None:
        """A full pass: accounts no longer in the directory depart their colleagues."""
        for key, account in self.accounts.items():
            if key in read_keys or account.pk is None or account.removed_at is not None:
                continue
            account.removed_at = self.now
            account.save(update_fields=["removed_at"])
            colleague = account.colleague
            if colleague is not None and colleague.status == Colleague.Status.CURRENT:
                self._depart(colleague, reason="removed")
                self.outcomes[key] = "departed"

    def count(self) -> None:
        for outcome in self.outcomes.values():
            setattr(self.result, outcome, getattr(self.result, outcome) + 1)

    # Colleagues.

    def _colleague_for(self, person: DirectoryPerson) -> Colleague | None:
        """The existing colleague of a new entry: the one with its mail address, unless that
        colleague belongs to another account still in the directory."""
        if not person.email:
            return None
        colleague = (
            Colleague.objects.filter(email__iexact=person.email)
            .select_related("directory_account")
            .first()
        )
        if colleague is None:
            return None
        other = getattr(colleague, "directory_account", None)
        if other is None:
            return colleague
        if other.key == person.key:
            return colleague
        if other.removed_at is None:
            self.result.warnings.append(
                f"{person.uid}: {person.email} belongs to the account {other.uid}"
            )
            return None
        # The entry was deleted and created again (a new entryUUID): take its colleague over.
        other.colleague = None
        other.save(update_fields=["colleague"])
        self.accounts.get(other.key, other).colleague = None
        return colleague

    def _email_taken(self, email: str, colleague: Colleague | None) -> bool:
        if not email:
            return False
        others = Colleague.objects.filter(email__iexact=email)
        if colleague is not None:
            others = others.exclude(pk=colleague.pk)
        return others.exists()

    def _update_profile(self, colleague: Colleague, person: DirectoryPerson) -> bool:
        changed = []
        wanted = {
            "name": person.name[:200],
            "title": person.title[:200],
            "department": person.department[:200],
        }
        if person.email and person.email != colleague.email.lower():
            if self._email_taken(person.email, colleague):
                self.result.warnings.append(
                    f"{person.uid}: {person.email} is another colleague's address; kept "
                    f"{colleague.email or 'none'}"
                )
            else:
                wanted["email"] = person.email
        for name, value in wanted.items():
            if getattr(colleague, name) != value:
                setattr(colleague, name, value)
                changed.append(name)
        if changed:
            colleague.save(update_fields=[*changed, "updated_at"])
        return bool(changed)

    def _depart(self, colleague: Colleague, *, reason: str) -> None:
        colleague.status = Colleague.Status.DEPARTED
        colleague.departed_on = self.today
        colleague.save(update_fields=["status", "departed_on", "updated_at"])
        audit.record(
            "colleague.departed", f"colleague:{colleague.pk}", via="directory", reason=reason
        )
        logger.info("Directory: colleague %s departed (%s)", colleague.pk, reason)
        colleague_departed.send(sender=DirectoryAccount, colleague=colleague, reason=reason)

    def _reenabled(self, colleague: Colleague, person: DirectoryPerson) -> str | None:
        """An account active again whose colleague is departed: report it, and reinstate the
        colleague only when LDAP_REINSTATE_REENABLED says so."""
        if not self.config.reinstate_reenabled:
            self.result.reenabled.append(person.uid)
            audit.record("directory.reenabled", f"colleague:{colleague.pk}", reinstated=False)
            logger.warning(
                "Directory: %s is enabled again; colleague %s stays departed "
                "(LDAP_REINSTATE_REENABLED is off)",
                person.uid,
                colleague.pk,
            )
            return None
        colleague.status = Colleague.Status.CURRENT
        colleague.departed_on = None
        colleague.save(update_fields=["status", "departed_on", "updated_at"])
        self.result.reinstated.append(person.uid)
        audit.record("directory.reenabled", f"colleague:{colleague.pk}", reinstated=True)
        return "updated"
