"""Servers made by a test are closed after it (their DataFlow holds connections)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dataflow_engine.nodes import _registry


@pytest.fixture(autouse=True)
def close_what_the_test_opened() -> Iterator[None]:
    before = {id(db) for db in (ref() for ref in list(_registry._instances)) if db is not None}
    yield
    for ref in list(_registry._instances):
        db = ref()
        if db is not None and id(db) not in before and not db.closed:
            db.close()
