"""Fixtures of the hostile suite: short parse limits, and a server nothing may reach."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.connectors.hostile.harness import Canary, assert_no_children, child_pids

# Short enough that the cases built to run for minutes end quickly, long enough (about 30
# times what the legitimate cases need) not to fail them on a busy machine.
PARSE_SECONDS = 2.0
PARSE_MEMORY_MB = 256


@pytest.fixture(scope="session")
def canary() -> Iterator[Canary]:
    server = Canary()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _hostile_limits(settings, canary: Canary) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Parse under short limits; afterwards, nothing reached the canary and no child is left."""
    settings.CONNECTORS_PARSE_SECONDS = PARSE_SECONDS
    settings.CONNECTORS_PARSE_MEMORY_MB = PARSE_MEMORY_MB
    before = child_pids()
    yield
    hits = list(canary.hits)
    canary.hits.clear()
    assert not hits, f"something was fetched from the loopback canary: {hits}"
    assert_no_children(before)
