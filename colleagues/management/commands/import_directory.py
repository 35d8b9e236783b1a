"""`manage.py import_directory FILE.csv`: apply the HR directory to colleagues."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from colleagues.actions import import_directory


class Command(BaseCommand):
    help = (
        "Apply an HR directory CSV with columns "
        "email,name,title,department,manager_email,status,departed_on."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        try:
            result = import_directory(path)
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path.name}: {exc}") from exc
        self.stdout.write(f"{result.created} colleagues created, {result.updated} updated")
