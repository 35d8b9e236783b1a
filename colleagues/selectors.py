"""Reads about people. Directory facts (name, title, department, status) are visible to every
member of the organisation; what they wrote is read through knowledge.selectors."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from colleagues.models import Colleague, Identity


def colleague_by_email(email: str) -> Colleague | None:
    """The colleague with this primary or known mail address."""
    email = email.strip().lower()
    found = Colleague.objects.filter(email__iexact=email).first()
    if found is not None:
        return found
    identity = (
        Identity.objects.filter(kind=Identity.Kind.EMAIL, value=email, colleague__isnull=False)
        .select_related("colleague")
        .first()
    )
    return identity.colleague if identity is not None else None


def colleague_directory(
    *, department: str = "", status: str = "", query: str = ""
) -> QuerySet[Colleague]:
    """Colleagues filtered by department, status and a name/title/email query."""
    colleagues = Colleague.objects.select_related("manager").order_by("name")
    if department:
        colleagues = colleagues.filter(department=department)
    if status:
        colleagues = colleagues.filter(status=status)
    if query:
        colleagues = colleagues.filter(
            Q(name__icontains=query) | Q(title__icontains=query) | Q(email__icontains=query)
        )
    return colleagues


def departments() -> list[str]:
    """Department names in use, sorted."""
    return sorted(d for d in Colleague.objects.values_list("department", flat=True).distinct() if d)


def _surname(colleague: Colleague) -> str:
    words = [w for w in colleague.name.replace(".", " ").split() if len(w) > 1]
    if words:
        return words[-1].casefold()
    return colleague.email.split("@")[0].rsplit(".", 1)[-1].casefold()


def merge_candidates(colleague: Colleague, *, limit: int = 10) -> list[Colleague]:
    """Other colleagues who may be the same person: the same surname, in name or address.

    A suggestion for a person to review, never applied by itself.
    """
    surname = _surname(colleague)
    if len(surname) < 2:
        return []
    found = (
        Colleague.objects.exclude(pk=colleague.pk)
        .filter(Q(name__icontains=surname) | Q(email__icontains=surname))
        .order_by("name")
    )
    return [c for c in found[: limit * 3] if _surname(c) == surname][:limit]


def colleague_by_name(name: str) -> Colleague | None:
    """The one colleague of this exact name (case aside); None when none or several."""
    matches = list(Colleague.objects.filter(name__iexact=name.strip())[:2])
    return matches[0] if len(matches) == 1 else None
