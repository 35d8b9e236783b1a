"""Where the journeys' screenshots go: tests/artifacts/journeys/ unless COLLEAGUE_SCREENSHOTS
names a directory (`make screenshots`: docs/screenshots/); the directory is made if missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from tests.journeys.screenshots import SCREENSHOTS_VARIABLE, screenshot_path


def test_screenshots_go_to_the_artifacts_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCREENSHOTS_VARIABLE, raising=False)
    artifacts = Path(settings.BASE_DIR) / "tests" / "artifacts" / "journeys"
    path = screenshot_path("employee-answer")
    assert path == artifacts / "employee-answer.png"
    assert path.parent.is_dir()


def test_the_variable_names_the_directory_which_is_created(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = tmp_path / "docs" / "screenshots"
    monkeypatch.setenv(SCREENSHOTS_VARIABLE, str(target))
    assert screenshot_path("hr-package") == target / "hr-package.png"
    assert target.is_dir()


@pytest.mark.parametrize("name", ["", "a/b", "../up", "shot.png", "a\\b"])
def test_a_name_is_a_bare_file_name(name: str) -> None:
    with pytest.raises(ValueError, match="bare name"):
        screenshot_path(name)
