"""The engine's own event loop, on a daemon thread, shared by every ``DataFlow``.

Pools and connections are bound to the loop that created them, so all database work runs
here; the sync facade blocks on it, the async facade awaits it from any other loop.
A daemon thread never keeps the interpreter alive; an atexit hook closes open pools.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio

__all__ = ["in_engine_loop", "run_async", "run_sync"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_closers: weakref.WeakSet[Any] = weakref.WeakSet()


def _get_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    import asyncio  # imported on first use: keeps `import dataflow_engine` fast

    loop = _loop
    if loop is not None and _thread is not None and _thread.is_alive():
        return loop
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            new_loop = asyncio.new_event_loop()
            ready = threading.Event()

            def _run() -> None:
                asyncio.set_event_loop(new_loop)
                new_loop.call_soon(ready.set)
                new_loop.run_forever()

            thread = threading.Thread(target=_run, name="dataflow-engine-loop", daemon=True)
            thread.start()
            ready.wait()
            _loop, _thread = new_loop, thread
        return _loop


def in_engine_loop() -> bool:
    """True when called from the engine's own loop thread."""
    return _thread is not None and threading.current_thread() is _thread


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a coroutine on the engine loop and block until it finishes."""
    import asyncio

    if in_engine_loop():
        coro.close()
        raise RuntimeError(
            "a blocking DataFlow call was made from inside the engine's loop; "
            "use AsyncLocalRuntime or the async methods there"
        )
    future = asyncio.run_coroutine_threadsafe(coro, _get_loop())
    try:
        return future.result(timeout)
    except BaseException:
        future.cancel()
        raise


async def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Await a coroutine on the engine loop from any event loop."""
    import asyncio

    if in_engine_loop():
        return await coro
    future = asyncio.run_coroutine_threadsafe(coro, _get_loop())
    return await asyncio.wrap_future(future)


def register_closer(obj: Any) -> None:
    """Remember an object whose ``close()`` should run at interpreter exit."""
    _closers.add(obj)


def unregister_closer(obj: Any) -> None:
    _closers.discard(obj)


@atexit.register
def _close_all() -> None:
    for obj in list(_closers):
        try:
            obj.close(timeout=2.0)
        except Exception:  # pragma: no cover - best effort at shutdown
            pass
