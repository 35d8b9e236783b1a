"""`manage.py who_knows "question or topic" [--as USERNAME] [--limit N] [--json] [--input FILE]`."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from answers.actions import record_who_knows
from answers.management.commands.ask import actor_from_options
from answers.who_knows import results_json, who_knows
from knowledge.audit import Actor
from knowledge.commandline import add_reader_arguments, input_lines, reader_from_options
from knowledge.visibility import Reader


class Command(BaseCommand):
    help = (
        "Rank colleagues, current and departed, by how well what they wrote answers a "
        "question, with evidence, as a user would see it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("question", nargs="?", help="a question or a topic")
        parser.add_argument("--limit", type=int, default=5)
        add_reader_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        reader = reader_from_options(options)
        actor = actor_from_options(options)
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        if options["input"]:
            path = options["input"]
            for number, obj in input_lines(path):
                question = obj.get("question") or obj.get("text")
                try:
                    result = self.answer(reader, actor, question, options["limit"])
                except CommandError as exc:
                    raise CommandError(f"{path}:{number}: {exc}") from exc
                self.stdout.write(json.dumps(result, ensure_ascii=False))
            return
        result = self.answer(reader, actor, options["question"], options["limit"])
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2))
            return
        if not result["results"]:
            self.stdout.write("Nobody: no evidence found that you may see.")
        for n, row in enumerate(result["results"], start=1):
            who = row["colleague"]
            left = " (departed)" if who["status"] == "departed" else ""
            self.stdout.write(f"{n}. {who['name']} <{who['email']}>{left}  {row['score']:.3f}")
            for evidence in row["evidence"]:
                self.stdout.write(f"   [{evidence['item_id']}] {evidence['excerpt']}")
            if row["successors"]:
                names = ", ".join(s["colleague"]["name"] for s in row["successors"])
                self.stdout.write(f"   now ask: {names}")

    def answer(self, reader: Reader, actor: Actor, question: Any, limit: int) -> dict[str, Any]:
        if not isinstance(question, str) or not question.strip():
            raise CommandError("the question is empty")
        experts = who_knows(reader, question, limit=limit)
        record_who_knows(
            reader=reader, question=question, experts=experts, actor=actor, via="command"
        )
        return results_json(experts)
