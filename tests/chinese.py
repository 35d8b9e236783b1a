"""The Chinese team of tests/fixtures/zh, ingested through the real Slack export and mail
connectors: 王伟 (departed, payments: 支付网关的密钥轮换), 李娜 (product), 陈杰 (operations)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from answers.packages import forget_versions
from colleagues.models import Colleague
from connectors.actions import run_sync, source_for_path
from skills.models import SkillVersion

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "zh"
WANG = "wang.wei@acme.test"
LI = "li.na@acme.test"
CHEN = "chen.jie@acme.test"


@dataclass
class Team:
    wang: Colleague
    li: Colleague
    chen: Colleague


def ingest_chinese_team(tmp: Path) -> Team:
    """Sync the fixture export and mails (copied under `tmp`); 王伟 departed on 2025-04-30."""
    export = shutil.copytree(FIXTURES / "slack-export", tmp / "slack-export")
    mail = shutil.copytree(FIXTURES / "mail", tmp / "mail")
    for path, kind in ((export, "slack-export"), (mail, "email")):
        run = run_sync(source=source_for_path(path, kind=kind))
        assert run.status == run.Status.SUCCEEDED, run.error
        assert run.items_created > 0
    Colleague.objects.filter(email=WANG).update(
        status=Colleague.Status.DEPARTED, departed_on=date(2025, 4, 30)
    )
    return Team(
        wang=Colleague.objects.get(email=WANG),
        li=Colleague.objects.get(email=LI),
        chen=Colleague.objects.get(email=CHEN),
    )


def forget_packages() -> None:
    """Drop the team's package outlines from this process's cache before the test's rollback:
    on SQLite the next test's versions may reuse their ids (answers.packages caches by id)."""
    forget_versions(SkillVersion.objects.values_list("id", flat=True))
