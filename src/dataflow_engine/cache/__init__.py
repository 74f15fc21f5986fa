"""The query cache: List, Read and Count answers, in this process (an LRU) or in Redis.

Opt-in: ``DataFlow(url, cache=True)`` (or ``"memory"``) for the in-process LRU,
``cache="redis://host:6379/0"`` for Redis shared by every process using it; also
``DATAFLOW_CACHE_URL``. Writes through DataFlow's nodes invalidate the written model's
answers (after the commit); writes made outside DataFlow are not seen until the entry's
``ttl`` runs out or ``db.invalidate_cache()`` is called. See docs/cache.md.

Importing this package does not import ``redis``; a Redis cache imports it when the
``DataFlow`` is created.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from ._config import CacheConfig, parse_cache
from ._front import CACHED_KINDS, QueryCache

if TYPE_CHECKING:
    from .._dataflow import DataFlow
    from ..nodes import ExecContext, Node

__all__ = [
    "CACHED_KINDS",
    "CacheConfig",
    "QueryCache",
    "open_cache",
    "parse_cache",
    "run_node",
    "watch_transaction",
]


def open_cache(db: DataFlow) -> QueryCache | None:
    """The cache ``db.settings.cache`` asks for (no connection is made yet).

    Raises:
        ConfigurationError: ``DF-CONFIG-CACHE`` for an invalid setting.
        DriverMissingError: a Redis URL without the ``redis`` package installed.
    """
    config = parse_cache(db.settings.cache)
    return None if config is None else QueryCache(db, config)


async def run_node(cls: type[Node], ctx: ExecContext, params: dict[str, Any]) -> Any:
    """Run a node with its ``DataFlow``'s cache: a List, Read or Count outside a workflow
    transaction is answered from the cache when it can be; a write invalidates its
    model's answers once it is done (once its transaction commits, inside one)."""
    cache: QueryCache | None = getattr(cls.dataflow, "_cache", None)
    if cache is None:
        return await cls().run(ctx, params)
    return await cache.run(cls, ctx, params)


def watch_transaction(stack: AsyncExitStack, db: DataFlow, conn: Any) -> None:
    """Called by the runtime right after acquiring ``conn`` for a workflow transaction
    and before beginning it: writes on ``conn`` invalidate only when ``stack`` unwinds
    past this point, after the transaction has committed (or rolled back)."""
    cache: QueryCache | None = getattr(db, "_cache", None)
    if cache is not None:
        cache.watch_transaction(stack, conn)
