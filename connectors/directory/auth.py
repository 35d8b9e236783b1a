"""LDAP login: django-auth-ldap configured from the LDAP_* settings.

In AUTHENTICATION_BACKENDS before ModelBackend only when LDAP_SERVER_URI is set
(config/settings.py). A login searches LDAP_USER_BASE as the service account for the one
person whose login name (LDAP_ATTR_UID, escaped) equals what was typed, binds as that DN with
the password typed, and then:

- refuses accounts the directory says are disabled (servers refuse most of them already);
- refuses a name that belongs to a local account (one with a usable password), so that a
  directory entry can never take over, say, a local superuser of the same name;
- links the login to its colleague by the directory entry, creating the colleague if the
  sync has not yet (colleagues.actions.link_login);
- sets the user's role groups from their LDAP groups (LDAP_ROLE_GROUPS).
"""

from __future__ import annotations

from typing import Any

import ldap
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django_auth_ldap.backend import LDAPBackend
from django_auth_ldap.config import LDAPSearch, LDAPSettings, MemberDNGroupType

from connectors.directory.actions import record_login
from connectors.directory.conf import DirectoryConfig, load_config
from connectors.directory.parsing import login_search_template, normalize_dn, person_from_entry
from knowledge.tombstones import erased_hashes, is_erased_address


def ldap_settings(config: DirectoryConfig) -> LDAPSettings:
    """django-auth-ldap's settings, from ours rather than from AUTH_LDAP_* settings."""
    options = LDAPSettings()  # then every setting that matters is overwritten from ours
    options.SERVER_URI = config.server_uri
    options.BIND_DN = config.bind_dn
    options.BIND_PASSWORD = config.bind_password
    options.CONNECTION_OPTIONS = {
        ldap.OPT_REFERRALS: 0,
        ldap.OPT_NETWORK_TIMEOUT: config.timeout,
        ldap.OPT_TIMEOUT: config.timeout,
    }
    options.USER_SEARCH = LDAPSearch(
        config.user_base,
        ldap.SCOPE_SUBTREE,
        login_search_template(config),
        attrlist=config.read_attrs,
    )
    options.USER_ATTRLIST = config.read_attrs
    options.USER_ATTR_MAP = {"first_name": "givenName", "last_name": "sn"}
    if config.mail_attrs:
        options.USER_ATTR_MAP["email"] = config.mail_attrs[0]
    if config.group_base:
        options.GROUP_SEARCH = LDAPSearch(
            config.group_base, ldap.SCOPE_SUBTREE, config.group_filter or "(objectClass=*)"
        )
        options.GROUP_TYPE = MemberDNGroupType(config.group_member_attr)
    return options


class DirectoryBackend(LDAPBackend):
    """django-auth-ldap's backend with the LDAP_* settings, disabled accounts refused, the
    login linked to its colleague and its roles set from LDAP groups."""

    _settings: LDAPSettings | None = None

    @property
    def settings(self) -> LDAPSettings:
        if self._settings is None:
            self._settings = ldap_settings(load_config())
        return self._settings

    @settings.setter
    def settings(self, settings: LDAPSettings) -> None:
        self._settings = settings

    def authenticate(
        self,
        request: Any,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if not django_settings.LDAP_SERVER_URI:
            return None  # no directory: the login is for the other backends
        user: User | None = super().authenticate(request, username, password, **kwargs)
        return user

    def get_or_build_user(self, username: str, ldap_user: Any) -> tuple[User, bool]:
        config = load_config()
        person = person_from_entry(ldap_user.dn, ldap_user.attrs, config)
        if person.disabled:
            raise ldap_user.AuthenticationFailed("the account is disabled in the directory")
        if is_erased_address(person.email, erased_hashes()):
            # Erased here (knowledge.erasure): a login would bring the person back.
            raise ldap_user.AuthenticationFailed("the person was erased")
        user, built = super().get_or_build_user(person.uid, ldap_user)
        if not built and user.has_usable_password():
            raise ldap_user.AuthenticationFailed(f"{person.uid} is a local account")
        ldap_user.colleague_person = person
        return user, built

    def authenticate_ldap_user(self, ldap_user: Any, password: str) -> User | None:
        user: User | None = super().authenticate_ldap_user(ldap_user, password)
        person = getattr(ldap_user, "colleague_person", None)
        if user is None or person is None:
            return None
        config = load_config()
        if config.group_base:
            groups = {normalize_dn(dn) for dn in ldap_user.group_dns}
        else:
            groups = set(person.group_dns)
        record_login(user=user, person=person, group_dns=groups)
        return user
