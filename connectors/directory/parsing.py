"""Pure functions: LDAP entries -> DirectoryPerson, search filters, DNs and timestamps.

Every filter that holds a value from outside (a login name, a DN, a timestamp) is built here
with `ldap.filter.escape_filter_chars`, so no value can change a filter's structure
(docs/SECURITY.md row 15).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import ldap.dn
import ldap.filter

from connectors.directory.conf import DirectoryConfig

# Active Directory userAccountControl: ACCOUNTDISABLE.
# https://learn.microsoft.com/en-us/troubleshoot/windows-server/active-directory/useraccountcontrol-manipulate-account-properties
AD_ACCOUNTDISABLE = 0x0002
# Attributes whose values are binary, shown as hex (Active Directory's objectGUID).
BINARY_ATTRS = frozenset({"objectguid"})

# Values as python-ldap returns them (bytes) or as django-auth-ldap hands them on (str).
Attributes = Mapping[str, Sequence[bytes | str]]


@dataclass(frozen=True)
class DirectoryPerson:
    """One person's entry, read from the directory."""

    key: str  # stable across renames: entryUUID / objectGUID, else "dn:" + normalized DN
    dn: str
    dn_key: str  # normalize_dn(dn)
    uid: str
    email: str
    name: str
    title: str
    department: str
    manager_dn_key: str  # normalized DN of the manager, or ""
    group_dns: frozenset[str]  # normalized DNs, from memberOf (when the entry has it)
    disabled: bool
    modified: str  # the modifyTimestamp value as sent, or "" when the server sent none


def normalize_dn(dn: str) -> str:
    """A DN in one spelling, for comparing DNs: `CN=Pat O'Brien\\2C Jr. , OU=People` and
    `cn=Pat O'Brien\\, Jr.,ou=people` are the same entry. Attribute types and the values of
    the usual naming attributes (cn, uid, ou, dc) compare case-insensitively, so the whole
    DN is lower-cased. Raises ValueError for text that is no DN."""
    try:
        parts = ldap.dn.str2dn(dn.strip())
    except ldap.DECODING_ERROR as exc:
        raise ValueError(f"not a DN: {dn!r}") from exc
    return str(ldap.dn.dn2str(parts)).lower()


def _normalize_or_blank(dn: str) -> str:
    try:
        return normalize_dn(dn) if dn.strip() else ""
    except ValueError:
        return ""


def _get(attrs: Attributes, name: str) -> list[str]:
    """An attribute's values as text; attribute names compare case-insensitively."""
    wanted = name.lower()
    for key, values in attrs.items():
        if key.lower() == wanted:
            if wanted in BINARY_ATTRS:
                # django-auth-ldap hands on the values that happen to be UTF-8 decoded.
                return [(v if isinstance(v, bytes) else v.encode()).hex() for v in values]
            return [
                v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values
            ]
    return []


def _first(attrs: Attributes, names: Sequence[str]) -> str:
    for name in names:
        for value in _get(attrs, name):
            if value.strip():
                return value.strip()
    return ""


def is_disabled(attrs: Attributes, config: DirectoryConfig) -> bool:
    """Whether the account is disabled: Active Directory's ACCOUNTDISABLE bit, or the
    configured attribute (default pwdAccountLockedTime) holding one of the configured values
    (default 000001010000Z, OpenLDAP ppolicy's "locked by an administrator"; a lockout after
    failed passwords holds a real time and is not a departure), or any value when none are
    configured."""
    for raw in _get(attrs, "userAccountControl"):
        try:
            if int(raw) & AD_ACCOUNTDISABLE:
                return True
        except ValueError:
            continue
    values = [v.strip().lower() for v in _get(attrs, config.disabled_attr)]
    if not values:
        return False
    if not config.disabled_values:
        return True
    return any(value in config.disabled_values for value in values)


def person_from_entry(dn: str, attrs: Attributes, config: DirectoryConfig) -> DirectoryPerson:
    """Read one person entry. Raises ValueError when it has no login name or no valid DN."""
    dn_key = normalize_dn(dn)
    uid = _first(attrs, config.uid_attrs)
    if not uid:
        raise ValueError(f"{dn}: none of {', '.join(config.uid_attrs)}")
    entry_id = _first(attrs, config.id_attrs)
    email = _first(attrs, config.mail_attrs).lower()
    return DirectoryPerson(
        key=entry_id.lower() if entry_id else f"dn:{dn_key}",
        dn=dn,
        dn_key=dn_key,
        uid=uid,
        email=email if "@" in email else "",
        name=_first(attrs, config.name_attrs) or uid,
        title=_first(attrs, config.title_attrs),
        department=_first(attrs, config.department_attrs),
        manager_dn_key=_normalize_or_blank(_first(attrs, config.manager_attrs)),
        group_dns=frozenset(
            key
            for name in config.member_of_attrs
            for value in _get(attrs, name)
            if (key := _normalize_or_blank(value))
        ),
        disabled=is_disabled(attrs, config),
        modified=_first(attrs, [config.modified_attr]),
    )


def group_members(attrs: Attributes, config: DirectoryConfig) -> set[str]:
    """The normalized member DNs of one group entry."""
    return {
        key
        for value in _get(attrs, config.group_member_attr)
        if (key := _normalize_or_blank(value))
    }


# Filters. Every value from outside goes through escape_filter_chars.


def escaped(value: str) -> str:
    """`value` as a filter assertion value: `*`, `(`, `)`, `\\` and NUL become `\\2a` etc."""
    return str(ldap.filter.escape_filter_chars(value))


def people_filter(config: DirectoryConfig, *, modified_since: str = "") -> str:
    """Everyone the user filter selects, or only those modified at or after `modified_since`
    (a generalized time from the server: `>=` re-reads the entries of that very second, since
    the timestamps have one-second resolution)."""
    parts = [config.user_filter] if config.user_filter else ["(objectClass=*)"]
    if modified_since:
        parts.append(f"({config.modified_attr}>={escaped(modified_since)})")
    return parts[0] if len(parts) == 1 else "(&" + "".join(parts) + ")"


def login_filter(config: DirectoryConfig, login: str) -> str:
    """The people whose login name (any of the uid attributes) equals `login`."""
    return _login_filter(config, escaped(login))


def login_search_template(config: DirectoryConfig) -> str:
    """login_filter for django-auth-ldap's LDAPSearch, which puts the login name, escaped with
    escape_filter_chars, in place of `%(user)s`: any other `%` is doubled."""
    return _login_filter(
        replace(config, user_filter=config.user_filter.replace("%", "%%")), "%(user)s"
    )


def _login_filter(config: DirectoryConfig, value: str) -> str:
    names = "".join(f"({name}={value})" for name in config.uid_attrs)
    match = names if len(config.uid_attrs) == 1 else f"(|{names})"
    base = config.user_filter or "(objectClass=*)"
    return f"(&{base}{match})"


def groups_filter(config: DirectoryConfig) -> str:
    return config.group_filter or "(objectClass=*)"


# Timestamps.


def parse_generalized_time(value: str) -> datetime | None:
    """An RFC 4517 GeneralizedTime (`20261126104211Z`, Active Directory's
    `20261126104211.0Z`, or with an offset `+0200`) as an aware UTC datetime; None if not one."""
    text = value.strip()
    offset = timedelta()
    if text.endswith(("Z", "z")):
        text = text[:-1]
    elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        sign = 1 if text[-5] == "+" else -1
        offset = sign * timedelta(hours=int(text[-4:-2]), minutes=int(text[-2:]))
        text = text[:-5]
    else:
        return None
    text = text.split(".")[0].split(",")[0]
    formats = {14: "%Y%m%d%H%M%S", 12: "%Y%m%d%H%M", 10: "%Y%m%d%H"}
    if len(text) not in formats or not text.isdigit():
        return None
    try:
        parsed = datetime.strptime(text, formats[len(text)])
    except ValueError:
        return None
    return (parsed - offset).replace(tzinfo=UTC)


def latest_timestamp(values: Sequence[str]) -> str:
    """The latest of these generalized times, as sent; "" when any is missing or unreadable
    (then the next sync reads everything again rather than miss a change)."""
    latest: tuple[datetime, str] | None = None
    for value in values:
        parsed = parse_generalized_time(value) if value else None
        if parsed is None:
            return ""
        if latest is None or parsed > latest[0]:
            latest = (parsed, value)
    return latest[1] if latest else ""
