"""What the question-answering commands share: `--as`, `--input` batches, `--json` output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledge.visibility import Reader, reader_for


def add_reader_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "--as",
        dest="as_user",
        metavar="USERNAME",
        help="answer exactly as this user would see it (default: full operator access)",
    )
    parser.add_argument("--json", action="store_true", help="print the contract's JSON")
    parser.add_argument(
        "--input",
        metavar="FILE",
        help="answer one JSON object per line of FILE, one JSON line out per line in",
    )


def reader_from_options(options: dict[str, Any]) -> Reader:
    """The reader a command answers for: `--as USERNAME`, or the console operator."""
    username = options.get("as_user")
    if not username:
        return Reader.operator()
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"no user named {username!r}")
    if not user.is_active:
        raise CommandError(f"user {username!r} is inactive")
    return reader_for(user)


def input_lines(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line of a JSON-lines file ("-": stdin)."""
    try:
        handle = sys.stdin if path == "-" else Path(path).open(encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CommandError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not isinstance(obj, dict):
                raise CommandError(f"{path}:{number}: expected a JSON object")
            yield number, obj


def run_batch(
    command: BaseCommand,
    path: str,
    answer: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    """Answer each input line in order and write one JSON line per answer."""
    for _number, obj in input_lines(path):
        command.stdout.write(json.dumps(answer(obj), ensure_ascii=False))


def first_text(obj: dict[str, Any], *keys: str) -> str:
    """The first non-empty string among `keys` of an input line, or a CommandError."""
    for key in keys:
        value = obj.get(key)
        if isinstance(value, str) and value.strip():
            return value
    raise CommandError(f"input line needs one of: {', '.join(keys)}")
