"""The directory's settings, read from Django settings (the LDAP block of config/settings.py)
into one typed value, so that the sync and the login backend read them the same way."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from colleagues.roles import Role


@dataclass(frozen=True)
class DirectoryConfig:
    server_uri: str
    bind_dn: str
    bind_password: str
    user_base: str
    user_filter: str
    group_base: str
    group_filter: str
    group_member_attr: str
    # Each attribute setting lists names in order of preference; the first one an entry has
    # wins (OpenLDAP inetOrgPerson names and Active Directory names side by side).
    uid_attrs: tuple[str, ...]
    mail_attrs: tuple[str, ...]
    name_attrs: tuple[str, ...]
    title_attrs: tuple[str, ...]
    department_attrs: tuple[str, ...]
    manager_attrs: tuple[str, ...]
    member_of_attrs: tuple[str, ...]
    id_attrs: tuple[str, ...]
    modified_attr: str
    disabled_attr: str
    # Lower-cased values of disabled_attr that mean "disabled"; empty: any value does.
    disabled_values: frozenset[str]
    page_size: int
    timeout: int
    reinstate_reenabled: bool
    full_sync_hours: int
    # (normalized group DN, the role its members hold), see parsing.normalize_dn.
    role_groups: tuple[tuple[str, Role], ...]

    @property
    def state_key(self) -> str:
        """Which directory a high-water mark belongs to: another server or base starts over."""
        return f"{self.server_uri} {self.user_base}"[:1024]

    @property
    def read_attrs(self) -> list[str]:
        """Every attribute the sync and the login read. Operational ones (entryUUID,
        modifyTimestamp, pwdAccountLockedTime) are only returned when asked for by name."""
        names = [
            *self.uid_attrs,
            *self.mail_attrs,
            *self.name_attrs,
            *self.title_attrs,
            *self.department_attrs,
            *self.manager_attrs,
            *self.member_of_attrs,
            *self.id_attrs,
            self.modified_attr,
            self.disabled_attr,
            "userAccountControl",
            "givenName",
            "sn",
        ]
        return list(dict.fromkeys(name for name in names if name))


def parse_role_groups(text: str) -> tuple[tuple[str, Role], ...]:
    """Parse LDAP_ROLE_GROUPS: `Role name=group DN` pairs separated by `;` (a DN holds commas,
    never an unescaped `;`), e.g. `HR admin=cn=hr,ou=groups,dc=example,dc=org;Auditor=cn=audit,
    ou=groups,dc=example,dc=org`. Several groups may grant one role; a group may grant several
    roles when listed once per role."""
    from connectors.directory.parsing import normalize_dn

    roles_by_name = {role.value.lower(): role for role in Role}
    mapping: list[tuple[str, Role]] = []
    for raw in text.split(";"):
        pair = raw.strip()
        if not pair:
            continue
        name, sep, dn = pair.partition("=")
        role = roles_by_name.get(name.strip().lower())
        if not sep or not dn.strip() or role is None:
            known = ", ".join(role.value for role in Role)
            raise ImproperlyConfigured(
                f"LDAP_ROLE_GROUPS: {pair!r} is not 'Role=group DN' with a role among {known}"
            )
        try:
            key = normalize_dn(dn.strip())
        except ValueError as exc:
            raise ImproperlyConfigured(f"LDAP_ROLE_GROUPS: {dn.strip()!r} is not a DN") from exc
        mapping.append((key, role))
    return tuple(mapping)


def roles_for_groups(config: DirectoryConfig, group_dns: set[str]) -> set[Role]:
    """The roles that membership of these (normalized) group DNs grants."""
    return {role for dn, role in config.role_groups if dn in group_dns}


def managed_roles(config: DirectoryConfig) -> set[Role]:
    """The roles LDAP decides: those named in LDAP_ROLE_GROUPS. Others are left as granted."""
    return {role for _, role in config.role_groups}


def _names(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    assert isinstance(value, list | tuple)
    return tuple(str(name).strip() for name in value if str(name).strip())


def load_config() -> DirectoryConfig:
    """The directory settings; ImproperlyConfigured when LDAP_SERVER_URI or the base is unset."""
    if not settings.LDAP_SERVER_URI:
        raise ImproperlyConfigured("LDAP_SERVER_URI is not set: there is no directory to read")
    if not settings.LDAP_USER_BASE:
        raise ImproperlyConfigured("LDAP_USER_BASE is required when LDAP_SERVER_URI is set")
    if settings.LDAP_PAGE_SIZE < 1:
        raise ImproperlyConfigured("LDAP_PAGE_SIZE must be at least 1")
    return DirectoryConfig(
        server_uri=settings.LDAP_SERVER_URI,
        bind_dn=settings.LDAP_BIND_DN,
        bind_password=settings.LDAP_BIND_PASSWORD,
        user_base=settings.LDAP_USER_BASE,
        user_filter=_wrapped(settings.LDAP_USER_FILTER),
        group_base=settings.LDAP_GROUP_BASE,
        group_filter=_wrapped(settings.LDAP_GROUP_FILTER),
        group_member_attr=settings.LDAP_GROUP_MEMBER_ATTR,
        uid_attrs=_names(settings.LDAP_ATTR_UID),
        mail_attrs=_names(settings.LDAP_ATTR_MAIL),
        name_attrs=_names(settings.LDAP_ATTR_NAME),
        title_attrs=_names(settings.LDAP_ATTR_TITLE),
        department_attrs=_names(settings.LDAP_ATTR_DEPARTMENT),
        manager_attrs=_names(settings.LDAP_ATTR_MANAGER),
        member_of_attrs=_names(settings.LDAP_ATTR_MEMBER_OF),
        id_attrs=_names(settings.LDAP_ATTR_ID),
        modified_attr=settings.LDAP_ATTR_MODIFIED,
        disabled_attr=settings.LDAP_DISABLED_ATTR,
        disabled_values=frozenset(v.lower() for v in _names(settings.LDAP_DISABLED_VALUES)),
        page_size=settings.LDAP_PAGE_SIZE,
        timeout=settings.LDAP_TIMEOUT,
        reinstate_reenabled=settings.LDAP_REINSTATE_REENABLED,
        full_sync_hours=settings.LDAP_FULL_SYNC_HOURS,
        role_groups=parse_role_groups(settings.LDAP_ROLE_GROUPS),
    )


def _wrapped(search_filter: str) -> str:
    """A configured filter in parentheses, as RFC 4515 wants it inside `(&...)`."""
    search_filter = search_filter.strip()
    if search_filter and not search_filter.startswith("("):
        search_filter = f"({search_filter})"
    return search_filter
