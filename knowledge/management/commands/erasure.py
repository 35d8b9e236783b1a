"""`manage.py erasure list [--json]`, `erasure run REQUEST_ID [--json] [--batch-size N]` and
`erasure certificate REQUEST_ID [--json]`: erasure requests (knowledge/erasure.py).

Requests are asked for and approved in the intranet by two different HR admins; the console
only lists them, runs an approved or held one again (the worker and the daily job do it too),
and prints a certificate.

list:        [{"id", "state", "subject_label", "subject_sha256", "created_at", "decided_at",
               "finished_at", "complete"}]
run:         the request's certificate (below) after the run
certificate: {"request", "subject_sha256", "subject_label", "started_at", "finished_at",
              "complete", "items_authored", "items_naming", "items_deleted",
              "item_ids_sha256", "chunks_deleted", "versions_deleted", "packages_rebuilt",
              "turns_blanked", "held_items", "held_by": {hold id: count}, "tombstones",
              "package_versions_deleted", "conversations_deleted", "grants_deleted",
              "identities_deleted", "login_deleted", "colleague_deleted", "not_covered",
              "state", "audit_event": {"seq", "hash"} or null}
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledge.erasure import BATCH_SIZE, ErasureRefused, certificate_lines, run_erasure
from knowledge.models import ErasureRequest
from knowledge.retention.purge import PurgeBatch


class Command(BaseCommand):
    help = "List erasure requests, run an approved one, print a certificate."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        listing = commands.add_parser("list", help="every request, newest first")
        listing.add_argument("--json", action="store_true")
        run = commands.add_parser("run", help="run an approved request, or a held one again")
        run.add_argument("request_id", type=int)
        run.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        run.add_argument("--json", action="store_true")
        certificate = commands.add_parser("certificate", help="what a request erased")
        certificate.add_argument("request_id", type=int)
        certificate.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['command']}")(options)

    def _request(self, options: dict[str, Any]) -> ErasureRequest:
        found = ErasureRequest.objects.filter(pk=options["request_id"]).first()
        if found is None:
            raise CommandError(f"no erasure request {options['request_id']}")
        return found

    def _list(self, options: dict[str, Any]) -> None:
        rows = [
            {
                "id": r.pk,
                "state": r.state,
                "subject_label": r.subject_label,
                "subject_sha256": r.subject_sha256,
                "created_at": r.created_at.isoformat(),
                "decided_at": r.decided_at.isoformat() if r.decided_at else None,
                "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                "complete": bool(r.certificate.get("complete")),
            }
            for r in ErasureRequest.objects.order_by("-created_at", "-pk")
        ]
        if options["json"]:
            self.stdout.write(json.dumps(rows))
            return
        for row in rows:
            self.stdout.write(f"#{row['id']} {row['subject_label']}: {row['state']}")
        if not rows:
            self.stdout.write("No erasure request.")

    def _run(self, options: dict[str, Any]) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")

        def progress(batch: PurgeBatch) -> None:
            if not options["json"]:
                self.stdout.write(f"  batch {batch.number}: {len(batch.item_ids)} items deleted")

        try:
            request = run_erasure(
                self._request(options), batch_size=options["batch_size"], on_batch=progress
            )
        except ErasureRefused as exc:
            raise CommandError(str(exc)) from exc
        self._certificate({**options, "request_id": request.pk})

    def _certificate(self, options: dict[str, Any]) -> None:
        request = self._request(options)
        if options["json"]:
            event = request.certificate_event
            self.stdout.write(
                json.dumps(
                    {
                        **request.certificate,
                        "state": request.state,
                        "audit_event": {"seq": event.seq, "hash": event.hash} if event else None,
                    }
                )
            )
            return
        for what, value in certificate_lines(request):
            self.stdout.write(f"{what}: {value}")
