"""Keep what a web process holds for its whole life out of Python's full collections.

The first request builds the long-lived state (the index's and packages' caches, URL
resolvers, templates). Every generation-2 collection walks all of it: on the demo company one
who-knows request in fourteen took ~75 ms more (docs/BENCHMARKS.md "Page performance"). Once a
process has finished its first request, everything alive is collected once and moved to the
permanent generation (`gc.freeze`), which later collections skip. The server entry points
(config/wsgi.py, config/asgi.py) install it; it runs once per process.
"""

from __future__ import annotations

import gc
from typing import Any

from django.core.signals import request_finished

_UID = "config.memory.freeze_after_first_request"


def freeze_after_first_request(**kwargs: Any) -> None:
    """Collect, then freeze every object alive; disconnects itself first."""
    request_finished.disconnect(dispatch_uid=_UID)
    gc.collect()
    gc.freeze()


def install() -> None:
    """Freeze once this process has finished its first request."""
    request_finished.connect(freeze_after_first_request, dispatch_uid=_UID, weak=False)
