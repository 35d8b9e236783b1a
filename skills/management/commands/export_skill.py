"""`manage.py export_skill EMAIL --out PATH [--as USERNAME] [--live] [--json]`.

PATH: a folder or a .zip. `--live`: a skill pointing at the live MCP server, bundling no content.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from colleagues.access import can_view_package
from colleagues.selectors import colleague_by_email
from knowledge.commandline import reader_from_options
from skills.export import ExportRefused, export_package


class Command(BaseCommand):
    help = "Export a colleague's skill package as an AgentSkills folder (or a .zip of one)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="the colleague's email address")
        parser.add_argument(
            "--out",
            required=True,
            metavar="PATH",
            help="a .zip file, or a folder in which the skill's own folder is written",
        )
        parser.add_argument(
            "--as",
            dest="as_user",
            metavar="USERNAME",
            help="export only what this user may see (default: full operator access)",
        )
        parser.add_argument(
            "--live",
            action="store_true",
            help="bundle no content: a SKILL.md pointing at the live MCP server for this colleague",
        )
        parser.add_argument("--json", action="store_true", help="print what was written as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        colleague = colleague_by_email(options["email"])
        reader = reader_from_options(options)
        actor = (
            get_user_model().objects.get(username=options["as_user"])
            if options["as_user"]
            else None
        )
        if colleague is None or (actor is not None and not can_view_package(actor, colleague)):
            raise CommandError(f"no colleague with email {options['email']}")
        try:
            result = export_package(
                reader, colleague, Path(options["out"]), actor=actor, live=options["live"]
            )
        except ExportRefused as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"cannot write {options['out']}: {exc.strerror or exc}") from exc
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "colleague": colleague.email,
                        "name": result.name,
                        "version": result.version,
                        "path": str(result.path),
                        "files": list(result.files),
                    },
                    ensure_ascii=False,
                    indent=2,
                )
            )
        else:
            self.stdout.write(f"Wrote {result.name} (version {result.version}) to {result.path}")
