"""Who is reading, and what they may see.

A `Reader` is computed afresh for every request or command, so a change of membership, a
revoked or expired grant, or a departure takes effect on the next one. A reader sees an item
when its audience is one of `visible_audiences(reader)` (what they could see at the source) or
when its author is a colleague whose package they hold a grant on (`granted_colleague_ids`):
`visible_items_condition` is that rule as one query condition, applied inside every query
(never after a top-k).
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
    # Colleagues whose own writing this reader may see through a grant on their package.
    granted_colleague_ids: frozenset[int] = frozenset()

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
    """Return the reader for a login user: public items, what their identities could see at
    the sources, and the writing of colleagues whose packages they hold a grant on.

    Nobody: an anonymous or inactive user, and a login whose colleague has departed.
    """
    from colleagues.access import granted_colleague_ids

    if user is None or not user.is_authenticated or not user.is_active:
        return Reader.nobody()
    colleague = Colleague.objects.filter(user_id=user.pk).only("id", "status").first()
    if colleague is not None and colleague.is_departed:
        return Reader.nobody()
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
        granted_colleague_ids=granted_colleague_ids(user),
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


def visible_items_condition(reader: Reader, *, item: str = "") -> Q:
    """The condition on items (or, with `item="item__"`, on rows pointing at an item, with
    their own `audience`) that `reader` may see. Never called for the unrestricted operator.
    """
    assert not reader.unrestricted
    condition = Q(audience__in=visible_audiences(reader))
    if reader.is_member and reader.granted_colleague_ids:
        condition |= Q(**{f"{item}author__colleague_id__in": sorted(reader.granted_colleague_ids)})
    return condition
