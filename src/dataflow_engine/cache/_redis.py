"""Answers in Redis, shared by every process using it; generation tokens in Redis.

Keys (``P`` is the prefix):

- ``P:g:<hash>``: a generation token (random) per table and one per database; a write
  replaces its table's token and its database's token after it commits.
- ``P:v:<scope hash>:<model>:<query hash>``: an answer, stored as
  ``DF<format>|<token>|...|<JSON>``: the tokens read *before* the query ran, then the
  answer. It is served only while every token it names is still current.

A reader sends one ``MGET`` (tokens and answer). Answers this process decoded are also
kept in a small local LRU under the same tokens, so a hit on them costs only the tokens'
round trip. Redis errors never reach the caller: the store says "unavailable", the
answer comes from the database, and one warning is logged per outage. A token this
process could not replace is remembered and replaced before its next Redis read; until
that succeeds this process does not read answers from Redis at all.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterable
from typing import Any

from ..errors import DriverMissingError
from ._codec import decode, encode, snapshot
from ._config import CacheConfig
from ._keys import FORMAT, Uncacheable
from ._memory import LRU

__all__ = ["RedisStore"]

_log = logging.getLogger("dataflow_engine.cache")

_RETRY_SECONDS = 1.0  # after a failure, Redis is not tried again for this long
_GENERATION_TTL = 7 * 24 * 3600  # a token that expires is recreated: answers just miss
_USAGE_SCAN_LIMIT = 100_000


class _Unavailable(Exception):
    """Redis did not answer (or is resting after a failure)."""


def _token() -> bytes:
    return os.urandom(8).hex().encode("ascii")


class RedisStore:
    """The Redis backend (see the module docstring)."""

    name = "redis"

    def __init__(self, config: CacheConfig) -> None:
        try:
            import redis.asyncio  # noqa: F401
        except ImportError as exc:
            raise DriverMissingError(
                "cache='redis://...' needs the redis package: pip install 'dataflow-engine[redis]'",
                code="DF-DB-DRIVER-MISSING",
                details={"option": "cache", "package": "redis"},
            ) from exc
        self.config = config
        self.prefix = config.prefix
        self.near = LRU(config.max_entries, config.max_bytes, config.ttl)
        self.errors = 0
        self.available: bool | None = None  # unknown until the first call
        self._client: Any = None
        self._idle: list[Any] = []  # connections of the read path (see _mget)
        self._pending: set[str] = set()
        self._resting_until = 0.0
        self._guard = config.timeout * 3 + 0.1
        self._header = f"DF{FORMAT}|".encode()

    # -- the connection ------------------------------------------------------------------

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            assert self.config.url is not None
            self._client = aioredis.Redis.from_url(
                self.config.url,
                socket_timeout=self.config.timeout,
                socket_connect_timeout=self.config.timeout,
                retry=Retry(NoBackoff(), 0),
                retry_on_timeout=False,
                health_check_interval=0,
                decode_responses=False,
            )
        return self._client

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self._resting_until and time.monotonic() < self._resting_until:
            raise _Unavailable
        try:
            # The client's socket and connect timeouts bound every call (name lookup too).
            result = await getattr(self._redis(), name)(*args, **kwargs)
        except Exception as exc:
            self._failed(exc)
            raise _Unavailable from exc
        self._succeeded()
        return result

    async def _mget(self, keys: list[str]) -> list[Any]:
        """``MGET`` on a connection of this store's own: the read path's one round trip,
        without the client's per-command machinery (about half its cost)."""
        if self._resting_until and time.monotonic() < self._resting_until:
            raise _Unavailable
        conn = self._idle.pop() if self._idle else self._redis().connection_pool.make_connection()
        done = False
        try:
            await conn.send_packed_command(conn.pack_command("MGET", *keys), check_health=False)
            result: list[Any] = await conn.read_response()
            done = True
        except Exception as exc:
            self._failed(exc)
            stale, self._idle = self._idle, []  # they went through the same failure
            for other in stale:
                try:
                    await other.disconnect(nowait=True)
                except Exception:  # already broken
                    pass
            raise _Unavailable from exc
        finally:
            if done and len(self._idle) < 16:
                self._idle.append(conn)
            else:
                try:
                    await conn.disconnect(nowait=True)
                except Exception:  # already broken
                    pass
        self._succeeded()
        return result

    async def _pipeline(self, commands: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> Any:
        if self._resting_until and time.monotonic() < self._resting_until:
            raise _Unavailable
        try:
            pipe = self._redis().pipeline(transaction=False)
            for name, args, kwargs in commands:
                getattr(pipe, name)(*args, **kwargs)
            result = await pipe.execute()
        except Exception as exc:
            self._failed(exc)
            raise _Unavailable from exc
        self._succeeded()
        return result

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        self._resting_until = time.monotonic() + _RETRY_SECONDS
        if self.available is not False:
            _log.warning(
                "the Redis cache %s is unavailable (%s: %s); answers come from the database "
                "until it is back",
                self.config.describe(),
                type(exc).__name__,
                str(exc)[:200],
            )
        self.available = False

    def _succeeded(self) -> None:
        if self.available is False:
            _log.warning("the Redis cache %s is available again", self.config.describe())
        self.available = True
        self._resting_until = 0.0

    # -- generations ---------------------------------------------------------------------

    def _gen_key(self, gen: str) -> str:
        return f"{self.prefix}:g:{gen}"

    async def _flush(self) -> None:
        """Replace every token a write could not replace yet (raises ``_Unavailable``)."""
        sending = list(self._pending)
        commands = [("set", (self._gen_key(g), _token()), {"ex": _GENERATION_TTL}) for g in sending]
        await self._pipeline(commands)
        self._pending.difference_update(sending)

    async def bump(self, gens: Iterable[str]) -> None:
        self._pending.update(gens)
        try:
            await self._flush()
        except _Unavailable:
            pass  # replaced before this process reads from Redis again

    async def _init_tokens(self, gens: tuple[str, ...]) -> list[Any]:
        keys = [self._gen_key(g) for g in gens]
        commands: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
            ("set", (k, _token()), {"nx": True, "ex": _GENERATION_TTL}) for k in keys
        ]
        commands.append(("mget", (keys,), {}))
        result = await self._pipeline(commands)
        tokens: list[Any] = result[-1]
        return tokens

    # -- answers -------------------------------------------------------------------------

    def _value_key(self, key: str) -> str:
        return f"{self.prefix}:v:{key}"

    def _tag_header(self, tag: tuple[bytes, ...]) -> bytes:
        return self._header + b"|".join(tag) + b"|"

    async def lookup(self, key: str, gens: tuple[str, ...], enums: Any) -> tuple[Any, Any]:
        """``(answer, None)`` on a hit; ``(None, tokens)`` on a miss (store under those
        tokens); ``(None, None)`` when Redis cannot be used (do not store)."""
        try:
            if self._pending:
                await self._flush()
            near = self.near.has(key)
            keys = [self._gen_key(g) for g in gens]
            if not near:
                keys.append(self._value_key(key))
            values = await self._mget(keys)
            tokens = values[: len(gens)]
            if any(t is None for t in tokens):
                tokens = await self._init_tokens(gens)
                if any(t is None for t in tokens):
                    return None, None
            tag = tuple(tokens)
            if near:
                answer = self.near.get(key, tag)
                if answer is not None:
                    return answer, None
                raw = await self._call("get", self._value_key(key))
            else:
                raw = values[-1]
        except _Unavailable:
            return None, None
        if raw is not None:
            header = self._tag_header(tag)
            if raw.startswith(header):
                try:
                    answer = decode(raw[len(header) :], enums)
                except Exception:  # written by another version, or damaged: recompute
                    _log.debug("undecodable cache entry %s", key, exc_info=True)
                else:
                    try:
                        self.near.put(key, tag, snapshot(answer))
                    except Uncacheable:
                        pass
                    return answer, None
        return None, tag

    async def store(self, key: str, ticket: Any, answer: Any, enums: Any) -> None:
        try:
            payload = encode(answer, enums)
            snap = snapshot(answer)
        except Uncacheable as exc:
            _log.debug("answer not cached: %s", exc)
            return
        self.near.put(key, ticket, snap)
        if len(payload) > self.config.max_entry_bytes:
            return
        ttl = self.config.ttl
        try:
            await self._call(
                "set",
                self._value_key(key),
                self._tag_header(ticket) + payload,
                px=max(1, int(ttl * 1000)) if ttl else None,
            )
        except _Unavailable:
            pass

    # -- reporting and lifecycle ---------------------------------------------------------

    async def usage(self) -> dict[str, Any]:
        """Entries and bytes under this prefix in Redis (a bounded ``SCAN``), and this
        process's local copies."""
        entries: int | None = 0
        size: int | None = 0
        truncated = False
        pattern = _glob_escape(self._value_key("")) + "*"
        try:
            cursor = 0
            while True:
                cursor, keys = await self._call("scan", cursor, match=pattern, count=1000)
                if keys:
                    lengths = await self._pipeline([("strlen", (k,), {}) for k in keys])
                    entries = (entries or 0) + len(keys)
                    size = (size or 0) + sum(lengths)
                if not cursor:
                    break
                if (entries or 0) >= _USAGE_SCAN_LIMIT:
                    truncated = True
                    break
        except _Unavailable:
            entries = size = None
        return {
            "entries": entries,
            "bytes": size,
            "entries_truncated": truncated,
            "local_entries": len(self.near),
            "local_bytes": self.near.bytes,
            "available": self.available,
            "errors": self.errors,
            "pending_invalidations": len(self._pending),
            "prefix": self.prefix,
        }

    async def ping(self) -> None:
        """Raises ``ConnectionError`` when Redis does not answer (or is resting after a
        failure)."""
        try:
            await self._call("ping")
        except _Unavailable:
            raise ConnectionError(
                f"the Redis cache {self.config.describe()} is unavailable"
            ) from None

    async def close(self) -> None:
        self.near.clear()
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await conn.disconnect(nowait=True)
            except Exception:  # closing is best effort
                pass
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if self._pending:
                self._client = client
                self._resting_until = 0.0  # one last try, whatever happened before
                await self._flush()
        except _Unavailable:
            _log.warning(
                "closing with %d cache invalidation(s) the Redis cache %s never received; "
                "other processes may serve older answers for up to ttl seconds",
                len(self._pending),
                self.config.describe(),
            )
        finally:
            self._client = None
            try:
                async with asyncio.timeout(self._guard):
                    await client.aclose()
            except Exception:  # closing is best effort
                pass


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
