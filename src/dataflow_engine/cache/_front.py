"""The query cache of one ``DataFlow``: which nodes it serves, their keys, invalidation
after writes (after the commit, for a workflow transaction), and the counters."""

from __future__ import annotations

import logging
import os
import weakref
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from ._config import CacheConfig
from ._keys import FORMAT, Uncacheable, database_scopes, digest, params_key
from ._memory import MemoryStore

if TYPE_CHECKING:
    from .._dataflow import DataFlow
    from ..models import ModelDef
    from ..nodes import ExecContext, Node

__all__ = ["QueryCache"]

_log = logging.getLogger("dataflow_engine.cache")

#: The node kinds whose answers are cached.
CACHED_KINDS = frozenset({"List", "Read", "Count"})


class _NodeInfo:
    """What the cache needs to know about one node class, computed once."""

    __slots__ = ("base", "cached", "enums", "read_gens", "scope", "write_gens")

    def __init__(
        self,
        cached: bool,
        base: str,
        scope: str,
        read_gens: tuple[str, ...],
        write_gens: tuple[str, ...],
        enums: Any,
    ) -> None:
        self.cached = cached
        self.base = base
        self.scope = scope
        self.read_gens = read_gens
        self.write_gens = write_gens
        self.enums = enums


class QueryCache:
    """Caches List, Read and Count answers of one ``DataFlow``'s models.

    Answers are stored under the model, its definition, the node kind, the normalised
    parameters and the run's tenant, together with the model's generations read before
    the query ran; a write to the model moves its generations on after it committed, so
    older answers are never served again.
    """

    def __init__(self, db: DataFlow, config: CacheConfig) -> None:
        self.config = config
        self._db = weakref.ref(db)
        self._instance = os.urandom(8).hex()
        self._info: weakref.WeakKeyDictionary[type, _NodeInfo] = weakref.WeakKeyDictionary()
        self._transactions: dict[int, set[str]] = {}
        self.hits = 0
        self.misses = 0
        self.bypassed = 0
        self.invalidations = 0
        self.store: Any
        if config.backend == "redis":
            from ._redis import RedisStore

            self.store = RedisStore(config)
        else:
            self.store = MemoryStore(config)

    # -- keys ----------------------------------------------------------------------------

    def _generations(self, db: DataFlow, model: ModelDef) -> tuple[str, tuple[str, ...]]:
        """The values scope and the generations a write to ``model`` moves on: its
        table's and its database's."""
        values, generations = database_scopes(db, model, self._instance)
        table = digest("table", generations, model.schema or "", model.table_name)
        return values, (table, digest("database", generations))

    def _describe(self, cls: type[Node]) -> _NodeInfo:
        from ..models._serialize import checksum, model_to_definition
        from ._codec import enum_types

        model = cls.model
        scope, gens = self._generations(cls.dataflow, model)
        # Models registered from an existing database may be views, or have foreign keys
        # that cascade, or triggers: any write to that database invalidates them.
        read_gens = gens[:1] if model.managed else gens
        base = digest(FORMAT, scope, model.name, checksum(model_to_definition(model)), cls.kind)
        info = _NodeInfo(
            cls.kind in CACHED_KINDS and not cls.writes,
            base,
            digest("scope", scope),
            read_gens,
            gens,
            enum_types(model.fields.values()),
        )
        self._info[cls] = info
        return info

    # -- running nodes -------------------------------------------------------------------

    async def run(self, cls: type[Node], ctx: ExecContext, params: dict[str, Any]) -> Any:
        """Run one node through the cache (see :func:`dataflow_engine.cache.run_node`)."""
        info = self._info.get(cls) or self._describe(cls)
        if cls.writes:
            try:
                return await cls().run(ctx, params)
            finally:
                # Also after a failure: a node that commits per batch may have written.
                gens = info.write_gens
                if not cls.model.table_name:  # a node of no one model (a saga, GDPR):
                    gens = self._every_model(cls.dataflow)  # it may write to any of them
                await self._written(gens, ctx.tx_connection)
        if not info.cached or ctx.tx_connection is not None:
            self.bypassed += 1
            return await cls().run(ctx, params)
        tenant = getattr(ctx, "tenant_id", None)
        try:
            query = params_key(params)
        except Uncacheable:
            self.bypassed += 1
            return await cls().run(ctx, params)
        key = f"{info.scope}:{cls.model.name}:" + digest(
            info.base, "" if tenant is None else f"t{tenant}", query
        )
        answer, ticket = await self.store.lookup(key, info.read_gens, info.enums)
        if answer is not None:
            self.hits += 1
            return answer
        if ticket is None:
            self.bypassed += 1
            return await cls().run(ctx, params)
        self.misses += 1
        answer = await cls().run(ctx, params)
        await self.store.store(key, ticket, answer, info.enums)
        return answer

    def _every_model(self, db: DataFlow) -> tuple[str, ...]:
        gens: set[str] = set()
        for model in db._models.values():
            gens.update(self._generations(db, model)[1])
        return tuple(gens)

    async def _written(self, gens: tuple[str, ...], conn: Any) -> None:
        if conn is not None:
            pending = self._transactions.get(id(conn))
            if pending is not None:
                pending.update(gens)
                return
        self.invalidations += 1
        await self.store.bump(gens)

    def watch_transaction(self, stack: AsyncExitStack, conn: Any) -> None:
        """Note that a workflow transaction runs on ``conn``; its writes invalidate when
        ``stack`` unwinds past this point (after the commit, or the rollback)."""
        self._transactions[id(conn)] = set()
        stack.push_async_callback(self._transaction_done, conn)

    async def _transaction_done(self, conn: Any) -> None:
        gens = self._transactions.pop(id(conn), None)
        if gens:
            self.invalidations += 1
            await self.store.bump(gens)

    # -- explicit invalidation, stats, closing -------------------------------------------

    async def invalidate(self, models: list[ModelDef]) -> None:
        """Forget every answer of ``models`` (after writes made outside DataFlow)."""
        db = self._db()
        if db is None:
            return
        gens: set[str] = set()
        for model in models:
            gens.update(self._generations(db, model)[1])
        if gens:
            self.invalidations += 1
            await self.store.bump(gens)

    async def stats(self) -> dict[str, Any]:
        lookups = self.hits + self.misses
        c = self.config
        return {
            "backend": self.store.name,
            "hits": self.hits,
            "misses": self.misses,
            "hit_ratio": self.hits / lookups if lookups else 0.0,
            "bypassed": self.bypassed,
            "invalidations": self.invalidations,
            **await self.store.usage(),
            "max_entries": c.max_entries,
            "max_bytes": c.max_bytes,
            "ttl": c.ttl,
        }

    async def health(self) -> dict[str, Any]:
        """``{"backend": ...}`` when the cache can be used (Redis answered a ``PING``).

        Raises:
            ConnectionError: Redis is unavailable (the health check reports it down;
                reads meanwhile come from the database).
        """
        await self.store.ping()
        return {"backend": self.store.name}

    async def close(self) -> None:
        await self.store.close()
