"""Writes about people: resolving source identities to colleagues, the HR directory."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext

from colleagues.models import Colleague, Identity
from colleagues.selectors import colleague_by_name
from connectors.base import PersonRef, SourcePerson


def _unique_slug(name: str, email: str) -> str:
    base = slugify(name) or slugify(email.split("@")[0]) or "colleague"
    base = base[:100]
    slug = base
    suffix = 2
    while Colleague.objects.filter(slug=slug).exists():
        slug = f"{base}-{suffix}"
        suffix += 1
    return slug


def create_colleague(
    *, name: str, email: str = "", title: str = "", status: str = Colleague.Status.CURRENT
) -> Colleague:
    """Create a colleague with a unique slug."""
    name = name.strip() or email.split("@")[0] or "Unknown"
    return Colleague.objects.create(
        name=name[:200],
        email=email.lower(),
        slug=_unique_slug(name, email),
        title=title[:200],
        status=status,
    )


@transaction.atomic
def link_login(*, colleague: Colleague, user: AbstractBaseUser) -> None:
    """Make `user` read as `colleague`: the login sees what that person saw at the sources.

    A login reads as at most one colleague; linking it again moves the link.
    """
    Colleague.objects.filter(user_id=user.pk).exclude(pk=colleague.pk).update(user=None)
    if colleague.user_id != user.pk:
        colleague.user_id = user.pk
        colleague.save(update_fields=["user", "updated_at"])


def _colleague_for_email(email: str) -> Colleague | None:
    found = (
        Identity.objects.filter(kind=Identity.Kind.EMAIL, value=email, colleague__isnull=False)
        .select_related("colleague")
        .first()
    )
    if found is not None:
        return found.colleague
    return Colleague.objects.filter(email__iexact=email).first()


def is_organisation_address(address: str) -> bool:
    """Whether a mail address belongs to the organisation (COLLEAGUE_ORG_DOMAINS).

    With no domains configured every address does: whoever wrote captured mail is treated as
    a colleague.
    """
    domains = settings.COLLEAGUE_ORG_DOMAINS
    if not domains:
        return True
    domain = address.rsplit("@", 1)[-1].lower()
    return domain in domains


@transaction.atomic
def resolve_people(people: Iterable[SourcePerson]) -> dict[PersonRef, Identity]:
    """Upsert an identity per person a source describes and link it to a colleague.

    A verified profile email links a Slack user to the mail identity of the same address, so
    one person seen in Slack and in mail is one colleague. Workspace members who are not bots
    become colleagues; a deleted Slack account makes a new colleague departed.
    """
    resolved: dict[PersonRef, Identity] = {}
    for person in people:
        identity = _upsert_identity(person.ref, person.display_name or person.real_name)
        if person.is_bot != identity.is_bot:
            identity.is_bot = person.is_bot
            identity.save(update_fields=["is_bot"])
        email_identity = None
        if person.email:
            email_identity = _upsert_identity(
                PersonRef("email", person.email.lower()), person.real_name or person.display_name
            )
        colleague = identity.colleague or (email_identity.colleague if email_identity else None)
        if colleague is None and person.email:
            colleague = _colleague_for_email(person.email.lower())
        if colleague is None and person.ref.kind == "email":
            colleague = _colleague_for_email(person.ref.value)
        if colleague is None and person.ref.kind == "name":
            colleague = colleague_by_name(person.ref.value)
        if colleague is None and not person.is_bot and person.ref.kind == "slack":
            colleague = create_colleague(
                name=person.real_name or person.display_name or person.ref.value,
                email=person.email,
                title=person.title,
                status=(
                    Colleague.Status.DEPARTED if person.is_deleted else Colleague.Status.CURRENT
                ),
            )
        if colleague is not None:
            _fill_blank_profile(colleague, person)
            for linked in (identity, email_identity):
                if linked is not None and linked.colleague_id is None:
                    linked.colleague = colleague
                    linked.save(update_fields=["colleague"])
        resolved[person.ref] = identity
    return resolved


def _fill_blank_profile(colleague: Colleague, person: SourcePerson) -> None:
    changed = []
    if not colleague.email and person.email:
        colleague.email = person.email.lower()
        changed.append("email")
    if not colleague.title and person.title:
        colleague.title = person.title[:200]
        changed.append("title")
    if changed:
        colleague.save(update_fields=[*changed, "updated_at"])


def _upsert_identity(ref: PersonRef, display_name: str) -> Identity:
    identity, created = Identity.objects.get_or_create(
        kind=ref.kind, value=ref.value[:320], defaults={"display_name": display_name[:200]}
    )
    if not created and display_name and identity.display_name != display_name[:200]:
        identity.display_name = display_name[:200]
        identity.save(update_fields=["display_name"])
    return identity


@transaction.atomic
def identities_for_refs(
    refs: Iterable[PersonRef], *, names: dict[PersonRef, str] | None = None
) -> dict[PersonRef, Identity]:
    """Return the identity of each ref, creating missing ones as external identities.

    A mail address already known for a colleague, or an author name matching exactly one
    colleague's name, is linked to that colleague.
    """
    names = names or {}
    wanted = set(refs)
    found: dict[PersonRef, Identity] = {}
    by_kind: dict[str, list[str]] = {}
    for ref in wanted:
        by_kind.setdefault(ref.kind, []).append(ref.value)
    for kind, values in by_kind.items():
        for identity in Identity.objects.filter(kind=kind, value__in=values):
            found[PersonRef(kind, identity.value)] = identity  # type: ignore[arg-type]
    for ref in sorted(wanted - found.keys()):
        colleague = None
        if ref.kind == "email":
            colleague = _colleague_for_email(ref.value)
        elif ref.kind == "name":
            colleague = colleague_by_name(ref.value)
        found[ref] = Identity.objects.create(
            kind=ref.kind,
            value=ref.value[:320],
            display_name=names.get(ref, "")[:200],
            colleague=colleague,
        )
    return found


def ensure_author_colleague(identity: Identity) -> int | None:
    """Link an author to their colleague: by exact name for a name, by address for mail.

    A mail address of the organisation with no colleague yet makes one. Returns the id of the
    identity's colleague, or None when it stays external.
    """
    if identity.colleague_id is not None:
        return identity.colleague_id
    if identity.kind == Identity.Kind.NAME:
        named = colleague_by_name(identity.value)
        if named is None:
            return None
        identity.colleague = named
        identity.save(update_fields=["colleague"])
        return named.pk
    if identity.kind != Identity.Kind.EMAIL or identity.is_bot:
        return None
    if not is_organisation_address(identity.value):
        return None
    colleague = _colleague_for_email(identity.value) or create_colleague(
        name=identity.display_name or identity.value.split("@")[0], email=identity.value
    )
    identity.colleague = colleague
    identity.save(update_fields=["colleague"])
    return colleague.pk


@dataclass(frozen=True)
class DirectoryResult:
    created: int
    updated: int


DIRECTORY_COLUMNS = ("email", "name", "title", "department", "manager_email", "status")


@transaction.atomic
def import_directory(path: Path) -> DirectoryResult:
    """Apply an HR directory CSV (email,name,title,department,manager_email,status,departed_on).

    The directory is the authority on names, titles, departments, managers and status; rows
    are matched to colleagues by email, and missing colleagues are created.
    """
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not set(DIRECTORY_COLUMNS) <= set(rows[0]):
        missing = ", ".join(sorted(set(DIRECTORY_COLUMNS) - set(rows[0])))
        raise ValueError(f"{path.name}: missing columns {missing}")
    created = updated = 0
    by_email: dict[str, Colleague] = {}
    for row in rows:
        email = row["email"].strip().lower()
        if not email:
            continue
        status = row["status"].strip() or Colleague.Status.CURRENT
        if status not in Colleague.Status.values:
            raise ValueError(f"{path.name}: unknown status {status!r} for {email}")
        departed_raw = (row.get("departed_on") or "").strip()
        departed_on = date.fromisoformat(departed_raw) if departed_raw else None
        colleague = _colleague_for_email(email)
        if colleague is None:
            colleague = create_colleague(name=row["name"], email=email)
            created += 1
        else:
            updated += 1
        colleague.name = row["name"].strip() or colleague.name
        colleague.email = email
        colleague.title = row["title"].strip()
        colleague.department = row["department"].strip()
        colleague.status = status
        colleague.departed_on = departed_on if status == Colleague.Status.DEPARTED else None
        colleague.save(
            update_fields=[
                "name",
                "email",
                "title",
                "department",
                "status",
                "departed_on",
                "updated_at",
            ]
        )
        _upsert_identity(PersonRef("email", email), colleague.name)
        Identity.objects.filter(kind=Identity.Kind.EMAIL, value=email, colleague=None).update(
            colleague=colleague
        )
        if colleague_by_name(colleague.name) == colleague:
            Identity.objects.filter(
                kind=Identity.Kind.NAME, value__iexact=colleague.name, colleague=None
            ).update(colleague=colleague)
        by_email[email] = colleague
    for row in rows:
        email = row["email"].strip().lower()
        manager_email = (row.get("manager_email") or "").strip().lower()
        if not email:
            continue
        colleague = by_email[email]
        manager = by_email.get(manager_email) or (
            _colleague_for_email(manager_email) if manager_email else None
        )
        if colleague.manager_id != (manager.pk if manager else None):
            colleague.manager = manager
            colleague.save(update_fields=["manager", "updated_at"])
    return DirectoryResult(created=created, updated=updated)


class IdentityChangeRefused(ValueError):
    """A merge or split that would lose a login link or leave a colleague with no identity."""


@transaction.atomic
def merge_colleagues(*, keep: Colleague, absorb: Colleague) -> Colleague:
    """Fold `absorb` into `keep`: its identities (and so everything they wrote), its reports
    and its login move to `keep`, blank profile fields are filled, and `absorb` is deleted.

    Refused when both have a login, or when they are the same colleague.
    """
    if keep.pk == absorb.pk:
        raise IdentityChangeRefused(gettext("a colleague cannot be merged into itself"))
    if keep.user_id and absorb.user_id:
        raise IdentityChangeRefused(
            gettext("%(keep)s and %(absorb)s both have a login; unlink one in the admin first")
            % {"keep": keep.name, "absorb": absorb.name}
        )
    Identity.objects.filter(colleague=absorb).update(colleague=keep)
    Colleague.objects.filter(manager=absorb).exclude(pk=keep.pk).update(manager=keep)
    changed = []
    for field in ("email", "title", "department"):
        if not getattr(keep, field) and getattr(absorb, field):
            setattr(keep, field, getattr(absorb, field))
            changed.append(field)
    if keep.manager_id is None and absorb.manager_id not in (None, keep.pk):
        keep.manager_id = absorb.manager_id
        changed.append("manager")
    user_id = absorb.user_id
    absorb_email = absorb.email
    absorb.delete()
    if user_id and not keep.user_id:
        keep.user_id = user_id
        changed.append("user")
    if absorb_email and keep.email != absorb_email:
        _upsert_identity(PersonRef("email", absorb_email), keep.name)
        Identity.objects.filter(kind=Identity.Kind.EMAIL, value=absorb_email).update(colleague=keep)
    if changed:
        keep.save(update_fields=[*changed, "updated_at"])
    return keep


@transaction.atomic
def split_identity(*, identity: Identity) -> Colleague:
    """Detach `identity` from its colleague into a new colleague of its own (a wrong merge).

    Refused for an identity of no colleague, or the only identity its colleague has.
    """
    owner = identity.colleague
    if owner is None:
        raise IdentityChangeRefused(gettext("this identity belongs to no colleague"))
    if not owner.identities.exclude(pk=identity.pk).exists():
        raise IdentityChangeRefused(
            gettext("it is the only identity of %(name)s") % {"name": owner.name}
        )
    email = identity.value if identity.kind == Identity.Kind.EMAIL else ""
    if email and owner.email.lower() == email:
        other = owner.identities.filter(kind=Identity.Kind.EMAIL).exclude(pk=identity.pk).first()
        owner.email = other.value if other else ""
        owner.save(update_fields=["email", "updated_at"])
    name = identity.display_name or (email.split("@")[0] if email else identity.value)
    colleague = create_colleague(name=name, email=email, status=owner.status)
    identity.colleague = colleague
    identity.save(update_fields=["colleague"])
    return colleague
