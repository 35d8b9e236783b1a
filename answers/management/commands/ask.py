"""`manage.py ask EMAIL "question" [--as USERNAME] [--limit N] [--json] [--input FILE]`."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from answers.actions import record_ask
from answers.ask import ask
from colleagues.access import can_view_package
from colleagues.selectors import colleague_by_email
from knowledge.audit import Actor
from knowledge.commandline import add_reader_arguments, input_lines, reader_from_options
from knowledge.visibility import Reader


class Command(BaseCommand):
    help = (
        "Answer a question from what a colleague wrote, in their own words with citations, "
        "as a user would see it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", nargs="?", help="the colleague asked (with --input: default)")
        parser.add_argument("question", nargs="?", help="what to ask them")
        parser.add_argument("--limit", type=int, default=5, help="most items cited (default 5)")
        add_reader_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        reader = reader_from_options(options)
        actor = actor_from_options(options)
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        if options["input"]:
            path = options["input"]
            for number, obj in input_lines(path):
                email = obj.get("colleague") or options["email"]
                question = obj.get("question")
                try:
                    result = self.answer(reader, actor, email, question, options["limit"])
                except CommandError as exc:
                    raise CommandError(f"{path}:{number}: {exc}") from exc
                self.stdout.write(json.dumps(result, ensure_ascii=False))
            return
        if not options["email"]:
            raise CommandError("give a colleague's email and a question, or --input FILE")
        result = self.answer(reader, actor, options["email"], options["question"], options["limit"])
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2))
            return
        self.stdout.write(result["answer"])
        if result["citations"]:
            self.stdout.write("")
        for n, citation in enumerate(result["citations"], start=1):
            link = f" · {citation['url']}" if citation["url"] else ""
            self.stdout.write(
                f"[{n}] item {citation['item_id']} · {citation['source']} · "
                f"{citation['created_at']}{link}"
            )

    def answer(
        self, reader: Reader, actor: Actor, email: Any, question: Any, limit: int
    ) -> dict[str, Any]:
        if not isinstance(email, str) or not email.strip():
            raise CommandError("no colleague given (an email)")
        if not isinstance(question, str) or not question.strip():
            raise CommandError("the question is empty")
        colleague = colleague_by_email(email)
        if colleague is None or (actor is not None and not can_view_package(actor, colleague)):
            raise CommandError(f"no colleague with email {email}")
        answer = ask(reader, colleague, question, limit=limit)
        record_ask(
            reader=reader,
            colleague=colleague,
            question=question,
            answer=answer,
            actor=actor,
            via="command",
        )
        return answer.as_json()


def actor_from_options(options: dict[str, Any]) -> Actor:
    """The login user of `--as` (checked by `reader_from_options`), or None: the operator."""
    username = options.get("as_user")
    if not username:
        return None
    return get_user_model().objects.filter(username=username).first()
