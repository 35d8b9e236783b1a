"""`manage.py mcp_serve --user USERNAME`: the MCP server over stdio, for a local AI agent.

stdout carries the protocol alone: nothing else may be written to it.
"""

from __future__ import annotations

from typing import Any

import anyio
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.server import build_server, console_user


class Command(BaseCommand):
    help = (
        "Serve the MCP server (ask, who knows, search, style check, skill packages) over stdio, "
        "as USERNAME sees the intranet; every call is audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--user", required=True, metavar="USERNAME", help="answer as this login user"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["user"]
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive")
        anyio.run(build_server(console_user(username)).run_stdio_async)
