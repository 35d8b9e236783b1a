"""`manage.py add_source NAME --kind KIND [--config JSON] [--credential KEY ...]`."""

from __future__ import annotations

import getpass
import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_duration

from connectors.actions import create_source
from connectors.errors import ConnectorError
from connectors.registry import CONNECTORS


class Command(BaseCommand):
    help = (
        "Configure a source that is not a path: a Slack workspace (kind slack), an IMAP "
        "mailbox (kind imap). Secrets are asked for (or read as JSON from stdin with "
        "--credentials-stdin), never taken from the command line, and stored encrypted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--kind", required=True, choices=sorted(CONNECTORS))
        parser.add_argument("--config", default="{}", help='JSON, e.g. \'{"host": "mail.acme"}\'')
        parser.add_argument(
            "--credential",
            action="append",
            default=[],
            metavar="KEY",
            help="a secret to ask for, e.g. token (Slack) or password (IMAP); repeatable",
        )
        parser.add_argument(
            "--credentials-stdin", action="store_true", help="read the secrets as JSON on stdin"
        )
        parser.add_argument("--every", help="sync schedule, e.g. 01:00:00 for hourly")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = json.loads(options["config"])
        except ValueError as exc:
            raise CommandError(f"--config is not JSON: {exc}") from exc
        if not isinstance(config, dict):
            raise CommandError("--config must be a JSON object")
        credentials: dict[str, str] = {}
        if options["credentials_stdin"]:
            try:
                credentials = {str(k): str(v) for k, v in json.load(sys.stdin).items()}
            except (ValueError, AttributeError) as exc:
                raise CommandError(f"stdin is not a JSON object: {exc}") from exc
        for key in options["credential"]:
            credentials[key] = getpass.getpass(f"{key}: ")
        every = parse_duration(options["every"]) if options["every"] else None
        if options["every"] and every is None:
            raise CommandError(f"--every {options['every']!r} is not a duration (HH:MM:SS)")
        try:
            source = create_source(
                name=options["name"],
                kind=options["kind"],
                config=config,
                credentials=credentials,
                sync_every=every,
            )
        except ConnectorError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps({"source": source.name, "id": source.pk}))
        else:
            self.stdout.write(
                f"Source {source.name} ({source.kind}) created; run: manage.py sync {source.name!r}"
            )
