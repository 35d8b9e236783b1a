"""The embedded default and production settings, each in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

PROJECT_ROOT = Path(settings.BASE_DIR)
PROBE = """
import json, django
from django.conf import settings
from django.db import connection
django.setup()
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    journal = cursor.fetchone()[0]
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "name": str(settings.DATABASES["default"]["NAME"]),
    "journal": journal,
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "debug": settings.DEBUG,
    "secret": settings.SECRET_KEY,
}))
"""
SERVICE_VARIABLES = ("DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG")


def run(code_or_args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    return subprocess.run(
        [sys.executable, *code_or_args],
        cwd=PROJECT_ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_embedded_default_uses_sqlite_wal_in_var_and_runs_tasks_in_process(tmp_path: Path) -> None:
    var = tmp_path / "var"
    first = run(["-c", PROBE], {"COLLEAGUE_VAR_DIR": str(var)})
    assert first.returncode == 0, first.stderr
    probe = json.loads(first.stdout)
    assert probe["engine"] == "django.db.backends.sqlite3"
    assert probe["name"] == str(var / "colleague.sqlite3")
    assert probe["journal"] == "wal"
    assert probe["eager"] is True
    assert probe["debug"] is True
    # The development secret key is generated once and kept.
    assert (var / "secret_key").stat().st_mode & 0o777 == 0o600
    second = json.loads(run(["-c", PROBE], {"COLLEAGUE_VAR_DIR": str(var)}).stdout)
    assert second["secret"] == probe["secret"]


def test_broker_url_turns_off_in_process_tasks(tmp_path: Path) -> None:
    probe = run(
        ["-c", PROBE],
        {"COLLEAGUE_VAR_DIR": str(tmp_path), "CELERY_BROKER_URL": "redis://127.0.0.1:6379/9"},
    )
    assert json.loads(probe.stdout)["eager"] is False


def test_production_settings_pass_the_deployment_checklist(tmp_path: Path) -> None:
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        {
            "COLLEAGUE_VAR_DIR": str(tmp_path),
            "SECRET_KEY": "x7!" + "k" * 20 + "production-secret-for-the-checklist-only",
            "ALLOWED_HOSTS": "colleague.example.com",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_requires_allowed_hosts(tmp_path: Path) -> None:
    result = run(
        ["manage.py", "check"],
        {"COLLEAGUE_VAR_DIR": str(tmp_path), "SECRET_KEY": "s" * 60},
    )
    assert result.returncode != 0
    assert "ALLOWED_HOSTS is required" in result.stderr
