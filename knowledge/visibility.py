"""Who is reading, and which audiences they belong to.

A `Reader` is computed afresh for every request or command, so a change of membership takes
effect on the next one. Every read of items, chunks or anything derived from them filters on
`visible_audiences(reader)` inside the query (never after a top-k).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet

from colleagues.models import Colleague, Identity
from knowledge.models import Audience


@dataclass(frozen=True)
class Reader:
    """The principals a read is made for.

    `unrestricted` is the console operator (management commands without `--as`). A logged-in
    user sees what is public to the organisation and what their identities may see at the
    source. Nobody else sees anything.
    """

    user_id: int | None
    colleague_id: int | None
    identity_ids: frozenset[int]
    is_member: bool
    unrestricted: bool = False

    @classmethod
    def operator(cls) -> Reader:
        return cls(
            user_id=None,
            colleague_id=None,
            identity_ids=frozenset(),
            is_member=True,
            unrestricted=True,
        )

    @classmethod
    def nobody(cls) -> Reader:
        return cls(user_id=None, colleague_id=None, identity_ids=frozenset(), is_member=False)


def reader_for(user: AbstractBaseUser | AnonymousUser | None) -> Reader:
    """Return the reader for a login user: public items plus their colleague's own."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Reader.nobody()
    colleague = Colleague.objects.filter(user_id=user.pk).only("id").first()
    identity_ids: frozenset[int] = frozenset()
    if colleague is not None:
        identity_ids = frozenset(
            Identity.objects.filter(colleague_id=colleague.pk).values_list("id", flat=True)
        )
    return Reader(
        user_id=user.pk,
        colleague_id=colleague.pk if colleague else None,
        identity_ids=identity_ids,
        is_member=True,
    )


def visible_audiences(reader: Reader) -> QuerySet[Audience]:
    """Audiences whose items `reader` may see."""
    if reader.unrestricted:
        return Audience.objects.all()
    if not reader.is_member:
        return Audience.objects.none()
    condition = Q(is_public=True)
    if reader.identity_ids:
        named = Audience.identities.through.objects.filter(
            identity_id__in=reader.identity_ids
        ).values("audience_id")
        via_container = Audience.containers.through.objects.filter(
            container__members__in=reader.identity_ids
        ).values("audience_id")
        condition |= Q(id__in=named) | Q(id__in=via_container)
    return Audience.objects.filter(condition)
