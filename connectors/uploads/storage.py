"""The upload folders on disk (connectors/uploads/connector.py): which names are upload
folders, and removing the folders of uploads whose items were deleted (retention, erasure,
redaction, exclusion), so no copy of a deleted document stays in the files."""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

# "<%Y%m%dT%H%M%S%f>-<8 hex digits>", as connectors.actions.store_upload names them.
FOLDER_NAME = re.compile(r"\d{8}T\d{12}-[0-9a-f]{8}")


def upload_folders(root: Path) -> list[str]:
    """The names of the complete upload folders under `root` (staging folders left out)."""
    if not root.is_dir():
        return []
    return sorted(
        entry.name
        for entry in root.iterdir()
        if FOLDER_NAME.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink()
    )


def remove_upload_folders(root: Path, names: Iterable[str]) -> int:
    """Delete these upload folders under `root`; return how many were deleted. Names that are
    not upload folders' (an id from another source, a path) are ignored; a folder that cannot
    be deleted is logged and left, for `manage.py retention verify` to report."""
    removed = 0
    for name in set(names):
        if not FOLDER_NAME.fullmatch(name):
            continue
        folder = root / name
        if folder.is_symlink() or not folder.is_dir():
            continue
        try:
            shutil.rmtree(folder)
        except OSError:
            logger.warning("Upload folder %s of a deleted item not removed", folder, exc_info=True)
            continue
        removed += 1
    return removed
