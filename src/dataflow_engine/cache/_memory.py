"""The in-process LRU, bounded by entries and bytes, and this process's generations."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any

from ._codec import Snapshot, snapshot
from ._config import CacheConfig
from ._keys import Uncacheable

__all__ = ["LRU", "MemoryStore"]

#: Generation counters of this process, by counter name (shared by every ``DataFlow`` in
#: it, so two instances on one database file invalidate each other's answers).
_GENERATIONS: dict[str, int] = {}


class LRU:
    """Entries ``key -> (tag, snapshot)``, least recently used evicted first, each living
    ``ttl`` seconds at most."""

    def __init__(self, max_entries: int, max_bytes: int, ttl: float | None) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.bytes = 0
        self._entries: OrderedDict[str, tuple[Hashable, Snapshot, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, tag: Hashable) -> Any:
        """A fresh copy of the answer stored under ``key`` with ``tag``; None when there is
        none (an entry with another tag, or expired, is dropped)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] != tag or (entry[2] and entry[2] < time.monotonic()):
            self.drop(key)
            return None
        self._entries.move_to_end(key)
        return entry[1].copy()

    def has(self, key: str) -> bool:
        return key in self._entries

    def put(self, key: str, tag: Hashable, snap: Snapshot) -> None:
        self.drop(key)
        if snap.size > self.max_bytes:
            return
        expires = time.monotonic() + self.ttl if self.ttl else 0.0
        self._entries[key] = (tag, snap, expires)
        self.bytes += snap.size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            _, (_, old, _) = self._entries.popitem(last=False)
            self.bytes -= old.size

    def drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry[1].size

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0


class MemoryStore:
    """Answers in this process's memory; generations are this process's counters."""

    name = "memory"

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self.lru = LRU(config.max_entries, config.max_bytes, config.ttl)

    async def lookup(self, key: str, gens: tuple[str, ...], enums: Any) -> tuple[Any, Any]:
        tag = tuple([_GENERATIONS.get(g, 0) for g in gens])
        return self.lru.get(key, tag), tag

    async def store(self, key: str, ticket: Any, answer: Any, enums: Any) -> None:
        try:
            snap = snapshot(answer)
        except Uncacheable:
            return
        self.lru.put(key, ticket, snap)

    async def bump(self, gens: Iterable[str]) -> None:
        for g in gens:
            _GENERATIONS[g] = _GENERATIONS.get(g, 0) + 1

    async def usage(self) -> dict[str, Any]:
        return {"entries": len(self.lru), "bytes": self.lru.bytes}

    async def ping(self) -> None:
        """The LRU is always there."""

    async def close(self) -> None:
        self.lru.clear()
