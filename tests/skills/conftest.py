"""The demo company, ingested once per test module that asks for it.

`demo_company` generates Northwind Robotics and stores it through the real ingest path
(`colleagues.demo.load.ingest_company`, as `manage.py load_demo` does), but builds no skill
package: tests of the analyses get the raw
material only. Loading takes a few seconds (about 3 s here), so it is done once per module,
inside a transaction that is rolled back when the module is done; each test runs in a
savepoint within it. Only tests using the plain `db` fixture may use it (a `transactional_db`
test would flush the tables under the open transaction).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.test.utils import override_settings

from colleagues.demo.generate import DemoCompany, generate_company
from colleagues.demo.load import ingest_company


@dataclass(frozen=True)
class Demo:
    company: DemoCompany
    truth: dict[str, Any]


@pytest.fixture(scope="module")
def demo_company(
    django_db_setup: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Demo]:
    out = tmp_path_factory.mktemp("northwind")
    with (
        django_db_blocker.unblock(),
        override_settings(
            VAR_DIR=out,
            COLLEAGUE_QUARANTINE_DIR=out / "quarantine",
            COLLEAGUE_EMBED_ON_INGEST=False,
        ),
    ):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            company = generate_company(Path(out) / "demo")
            ingest_company(company)
            truth = json.loads(company.truth.read_text(encoding="utf-8"))
            yield Demo(company=company, truth=truth)
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
