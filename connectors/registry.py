"""Source kinds and the connector class that reads each, imported lazily by dotted path."""

from __future__ import annotations

from django.utils.module_loading import import_string

from connectors.base import Connector
from connectors.errors import ConnectorConfigError

CONNECTORS: dict[str, str] = {
    "slack-export": "connectors.slack.export.SlackExportConnector",
    "slack": "connectors.slack.api.SlackApiConnector",
    "email": "connectors.email.connector.EmailFilesConnector",
    "imap": "connectors.email.imap.ImapConnector",
    "docs": "connectors.documents.connector.DocumentsConnector",
    "upload": "connectors.uploads.connector.UploadsConnector",
}


def connector_class(kind: str) -> type[Connector]:
    """Return the connector class for `kind`, or raise ConnectorConfigError."""
    try:
        path = CONNECTORS[kind]
    except KeyError:
        known = ", ".join(sorted(CONNECTORS))
        raise ConnectorConfigError(f"unknown source kind {kind!r} (known: {known})") from None
    cls: type[Connector] = import_string(path)
    return cls
