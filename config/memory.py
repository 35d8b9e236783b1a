"""Keep what a web process holds for its whole life out of Python's full collections.

The first request builds the long-lived state (the index's and packages' caches, URL
resolvers, templates). Every generation-2 collection walks all of it: on the demo company one
who-knows request in fourteen took ~75 ms more (docs/BENCHMARKS.md "Page performance"). Once a
process has finished its first request, everything alive is collected once and moved to the
permanent generation (`gc.freeze`), which later collections skip. The server entry points
(config/wsgi.py, config/asgi.py) install it; it runs once per process.

A cache built later, or in a process that serves no request (a management command's batch,
a worker), is frozen when it is built (`freeze_long_lived`): the package outlines of 5,000
colleagues are ~0.5M objects, and with them tracked one who-knows question in ten stalled
~300 ms at a million chunks (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import gc
from typing import Any

from django.core.signals import request_finished

_UID = "config.memory.freeze_after_first_request"


def freeze_after_first_request(**kwargs: Any) -> None:
    """Collect, then freeze every object alive; disconnects itself first."""
    request_finished.disconnect(dispatch_uid=_UID)
    freeze_long_lived()


def freeze_long_lived() -> None:
    """Collect, then freeze every object alive: call once a process has built a large cache
    it keeps. What is frozen is never freed by the cycle collector (reference counting
    still frees it), so call it after building, not while building."""
    gc.collect()
    gc.freeze()


def install() -> None:
    """Freeze once this process has finished its first request."""
    request_finished.connect(freeze_after_first_request, dispatch_uid=_UID, weak=False)
