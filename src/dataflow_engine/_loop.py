"""The engine's own event loop, shared by every ``DataFlow``.

Pools and connections are bound to the loop that created them, and users call the engine
from scripts, threads, notebooks and async code. So all database work runs on one loop
the engine owns. The loop is not pinned to a thread: a blocking call runs it *inline* in
the calling thread (no thread hop, which costs more than a SQLite insert), and a call
made while another thread is driving the loop is handed to that thread, which keeps the
loop running until every handed-over call is done. A call from inside a running event
loop (a notebook, async code) is driven from a worker thread instead, since a thread can
run only one loop at a time. Nothing here keeps the interpreter alive at exit; an atexit
hook closes open pools.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["in_engine_loop", "run_async", "run_sync"]

T = TypeVar("T")

_create_lock = threading.Lock()
_state = threading.Lock()  # guards _owner, _handed_over and _drained
_loop: asyncio.AbstractEventLoop | None = None
_owner: int | None = None  # ident of the thread running the loop, if any
_handed_over = 0  # calls submitted by other threads while the owner runs the loop
_drained: asyncio.Future[None] | None = None
_executor: ThreadPoolExecutor | None = None
_closers: weakref.WeakSet[Any] = weakref.WeakSet()


def _get_loop() -> asyncio.AbstractEventLoop:
    global _loop
    if _loop is None:
        with _create_lock:
            if _loop is None:
                import asyncio  # imported on first use: keeps `import dataflow_engine` fast

                _loop = asyncio.new_event_loop()
    return _loop


def in_engine_loop() -> bool:
    """True when called from code running on the engine's loop."""
    import asyncio

    return _loop is not None and asyncio._get_running_loop() is _loop


async def _handed(coro: Coroutine[Any, Any, T]) -> T:
    global _handed_over
    try:
        return await coro
    finally:
        with _state:
            _handed_over -= 1
            if _handed_over == 0 and _drained is not None and not _drained.done():
                _drained.set_result(None)


def _drive(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], timeout: float | None
) -> T:
    """Run ``coro`` on the loop in this thread, then keep the loop running until the
    calls other threads handed over meanwhile are done."""
    global _owner, _drained
    import asyncio

    task = loop.create_task(coro if timeout is None else asyncio.wait_for(coro, timeout))
    try:
        return loop.run_until_complete(task)
    except BaseException:
        if not task.done():  # interrupted (Ctrl-C): cancel the work, do not abandon it
            task.cancel()
            try:
                loop.run_until_complete(task)
            except BaseException:
                pass
        raise
    finally:
        with _state:
            if _handed_over == 0:
                _owner = None
            else:
                # Other threads' calls are still running on the loop: a helper thread keeps
                # driving it, so this caller is not held up by work that is not its own.
                _owner = -1
                threading.Thread(
                    target=_drain, args=(loop,), daemon=True, name="dataflow-engine-drain"
                ).start()


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Drive the loop until every handed-over call is done, then release it."""
    global _owner, _drained
    while True:
        with _state:
            if _handed_over == 0:
                _owner = None
                _drained = None
                return
            _drained = loop.create_future()
            waiter = _drained
        loop.run_until_complete(waiter)


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run a coroutine on the engine loop and block until it finishes."""
    global _owner, _handed_over
    import asyncio

    running = asyncio._get_running_loop()
    if running is not None:
        if running is _loop:
            coro.close()
            raise RuntimeError(
                "a blocking DataFlow call was made from inside the engine's loop; "
                "use AsyncLocalRuntime or the async methods there"
            )
        # This thread already runs another loop (a notebook, async code): drive the
        # engine loop from a worker thread and wait for it here.
        return _worker().submit(lambda: run_sync(coro, timeout)).result()
    loop = _get_loop()
    me = threading.get_ident()
    with _state:
        if _owner is None:
            _owner = me
            handed = None
        else:
            _handed_over += 1
            handed = asyncio.run_coroutine_threadsafe(_handed(coro), loop)
    if handed is None:
        return _drive(loop, coro, timeout)
    try:
        return handed.result(timeout)
    except BaseException:
        handed.cancel()
        raise


async def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Await a coroutine on the engine loop from any event loop."""
    import asyncio

    if in_engine_loop():
        return await coro
    started: list[asyncio.Task[Any]] = []

    async def tracked() -> T:
        task = asyncio.current_task()
        assert task is not None
        started.append(task)
        return await coro

    future = _worker().submit(lambda: run_sync(tracked()))
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        # The caller gave up (a timeout, a cancelled task): stop the work too, so a retry
        # never runs it twice. Transactions roll back as the task unwinds.
        if started and _loop is not None:
            _loop.call_soon_threadsafe(started[0].cancel)
        raise


def _worker() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _create_lock:
            if _executor is None:
                from concurrent.futures import ThreadPoolExecutor

                _executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="dataflow-engine")
    return _executor


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
