"""`manage.py build_skills [--colleague EMAIL ...] [--stale] [--json]`."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from colleagues.models import Colleague
from colleagues.selectors import colleague_by_email
from skills.actions import BuildOutcome, build_packages, colleagues_with_new_material


class Command(BaseCommand):
    help = "Build (or rebuild) colleagues' skill packages: each build is a new version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--colleague",
            metavar="EMAIL",
            action="append",
            help="only this colleague (repeatable; default: everyone with captured items)",
        )
        parser.add_argument(
            "--stale",
            action="store_true",
            help="only colleagues with material newer than their package",
        )
        parser.add_argument("--json", action="store_true", help="print the contract's JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["colleague"]:
            colleagues = []
            for email in options["colleague"]:
                colleague = colleague_by_email(email)
                if colleague is None:
                    raise CommandError(f"no colleague with email {email}")
                colleagues.append(colleague)
        elif options["stale"]:
            colleagues = colleagues_with_new_material()
        else:
            colleagues = list(
                Colleague.objects.filter(identities__items__isnull=False)
                .distinct()
                .order_by("name")
            )
        total = len(colleagues)
        progress = not options["json"] and sys.stderr.isatty()
        done = 0

        def report(outcome: BuildOutcome) -> None:
            nonlocal done
            done += 1
            if progress:
                sys.stderr.write(f"\r[{done}/{total}] {outcome.colleague.name[:40]:<40}")
                sys.stderr.flush()

        outcomes = build_packages(colleagues, on_built=report)
        if progress:
            sys.stderr.write("\n")
        packages = [
            {
                "colleague": o.colleague.email,
                "version": o.version.number,
                "items": o.version.items,
                "seconds": o.version.seconds,
            }
            for o in outcomes
            if o.version is not None
        ]
        failed = [o for o in outcomes if o.version is None]
        if options["json"]:
            result: dict[str, Any] = {"packages": packages}
            if failed:
                result["failed"] = [
                    {"colleague": o.colleague.email, "error": o.error} for o in failed
                ]
            self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2))
        else:
            for row in packages:
                self.stdout.write(
                    f"{row['colleague']}: version {row['version']} from {row['items']} items "
                    f"in {row['seconds']:.2f}s"
                )
            for o in failed:
                self.stderr.write(f"{o.colleague.email}: failed: {o.error}")
            self.stdout.write(f"{len(packages)} packages built, {len(failed)} failed.")
        if failed:
            raise CommandError(f"{len(failed)} of {total} packages failed to build")
