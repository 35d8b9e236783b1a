"""What the directory sync remembers between runs (connectors/directory/actions.py).

Registered with the connectors app through an import at the end of connectors/models.py.
"""

from __future__ import annotations

from django.db import models


class DirectoryAccount(models.Model):
    """One person entry of the LDAP directory and the colleague it describes.

    Kept after the entry is deleted at the source (`removed_at`), like the colleague: the
    directory sync never deletes anything.
    """

    # entryUUID (OpenLDAP) or objectGUID in hex (Active Directory): survives renames and
    # moves. "dn:" + the normalized DN on servers that have neither.
    key = models.CharField(max_length=255, unique=True)
    dn = models.CharField(max_length=1024)
    # The DN in one spelling (parsing.normalize_dn): how manager and group DNs are matched.
    dn_key = models.CharField(max_length=1024, db_index=True)
    # The login name (uid / sAMAccountName).
    uid = models.CharField(max_length=255, db_index=True)
    colleague = models.OneToOneField(
        "colleagues.Colleague",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="directory_account",
    )
    manager_dn_key = models.CharField(max_length=1024, blank=True)
    # Normalized DNs of the groups the person belongs to, sorted.
    group_dns = models.JSONField(default=list, blank=True)
    disabled = models.BooleanField(default=False)
    # Set when a full pass no longer finds the entry; cleared if it comes back.
    removed_at = models.DateTimeField(null=True, blank=True)
    # The entry's modifyTimestamp as the server sent it.
    modified = models.CharField(max_length=32, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["uid"]

    def __str__(self) -> str:
        return self.uid

    @property
    def is_active(self) -> bool:
        """Present at the source and not disabled."""
        return not self.disabled and self.removed_at is None


class DirectorySyncState(models.Model):
    """Where the incremental sync of one directory (server and user base) resumes."""

    directory = models.CharField(max_length=1024, unique=True)
    # The latest modifyTimestamp read, as the server sent it; "" reads everything next time.
    high_water = models.CharField(max_length=32, blank=True)
    last_full_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.directory
