"""Where the browser journeys save their screenshots.

`tests/artifacts/journeys/` by default (ignored by git, like the other browser tests'
screenshots); the directory named by `COLLEAGUE_SCREENSHOTS` when it is set (`make screenshots`
points it at `docs/screenshots/`, the README's pictures). A test helper reading its own test
variable, as tests/services.py does; the product's settings read the environment only in
config/env.py.
"""

from __future__ import annotations

import os
from pathlib import Path

SCREENSHOTS_VARIABLE = "COLLEAGUE_SCREENSHOTS"
DEFAULT_DIRECTORY = Path(__file__).resolve().parent.parent / "artifacts" / "journeys"


def screenshot_directory() -> Path:
    """The directory screenshots go to, created if missing."""
    configured = os.environ.get(SCREENSHOTS_VARIABLE, "").strip()
    directory = Path(configured).resolve() if configured else DEFAULT_DIRECTORY
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def screenshot_path(name: str) -> Path:
    """The PNG path for the screenshot called `name` (e.g. "employee-answer"); its directory
    exists. A name with a path separator or a suffix is refused, so every journey writes into
    the one directory with predictable file names."""
    if not name or any(mark in name for mark in ("/", "\\", ".")):
        raise ValueError(f"screenshot name {name!r} must be a bare name without a suffix")
    return screenshot_directory() / f"{name}.png"
