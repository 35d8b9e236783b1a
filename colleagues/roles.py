"""Roles: Django groups with the permissions each role holds.

A role is a group of this name; `ensure_roles()` (run after every migrate) creates the groups
and gives them exactly the permissions below, so a deployment can rely on them. A user may hold
several roles; a superuser holds every permission. What each role may do is the table in the
README ("Roles"), enforced server-side by these permissions.
"""

from __future__ import annotations

from enum import StrEnum

from django.contrib.auth.models import Group, Permission


class Role(StrEnum):
    """The group name of each role."""

    HR_ADMIN = "HR admin"
    CURATOR = "Knowledge curator"
    MANAGER = "Manager"
    EMPLOYEE = "Employee"
    AUDITOR = "Auditor"


# "app_label.codename" of every permission a role grants, all declared on
# colleagues.AccessGrant (Meta.permissions).
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.EMPLOYEE: frozenset(),
    Role.MANAGER: frozenset({"colleagues.view_team_packages"}),
    Role.CURATOR: frozenset(
        {
            "colleagues.view_all_packages",
            "colleagues.curate_packages",
        }
    ),
    Role.HR_ADMIN: frozenset(
        {
            "colleagues.view_all_packages",
            "colleagues.manage_grants",
            "colleagues.manage_consent",
            "colleagues.curate_packages",
            "colleagues.view_audit_reports",
            "colleagues.erase_colleagues",
            "colleagues.manage_offboarding",
        }
    ),
    Role.AUDITOR: frozenset({"colleagues.view_audit_reports"}),
}


def ensure_roles(*, using: str = "default") -> None:
    """Create the role groups and set their permissions to exactly ROLE_PERMISSIONS."""
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.using(using).get_or_create(name=role.value)
        wanted = []
        for name in sorted(names):
            app_label, codename = name.split(".", 1)
            permission = (
                Permission.objects.using(using)
                .filter(content_type__app_label=app_label, codename=codename)
                .first()
            )
            if permission is None:  # its app's migrations have not run yet
                continue
            wanted.append(permission)
        group.permissions.set(wanted)
