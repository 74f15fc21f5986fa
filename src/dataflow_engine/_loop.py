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
import functools
import threading
import time
import weakref
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["engine_bound", "in_engine_loop", "run_async", "run_on_engine_loop", "run_sync"]

T = TypeVar("T")
P = ParamSpec("P")

_create_lock = threading.Lock()
_state = threading.Lock()  # guards _owner, _handed_over and _drained
_loop: asyncio.AbstractEventLoop | None = None
_owner: threading.Thread | None = None  # the thread driving the loop, if any
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

    task = None
    try:
        task = loop.create_task(coro if timeout is None else asyncio.wait_for(coro, timeout))
        return loop.run_until_complete(task)
    except BaseException:
        if task is not None and not task.done():  # interrupted (Ctrl-C): cancel the work
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
                drainer = threading.Thread(
                    target=_drain, args=(loop,), daemon=True, name="dataflow-engine-drain"
                )
                _owner = drainer
                drainer.start()


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
        try:
            loop.run_until_complete(waiter)
        except BaseException:  # keep driving: handed-over calls must never be stranded
            continue


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
    me = threading.current_thread()
    with _state:
        if _owner is None or not _owner.is_alive():
            _owner = me
            handed = None
        else:
            _handed_over += 1
            handed = asyncio.run_coroutine_threadsafe(_handed(coro), loop)
    if handed is None:
        return _drive(loop, coro, timeout)
    import concurrent.futures

    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            try:
                return handed.result(0.25)
            except concurrent.futures.TimeoutError:
                if deadline is not None and time.monotonic() > deadline:
                    raise
                _take_over_if_abandoned(loop, handed)
    except BaseException:
        handed.cancel()
        raise


def _take_over_if_abandoned(loop: asyncio.AbstractEventLoop, handed: Any) -> None:
    """A safety net: if the thread driving the loop is gone, drive it from here."""
    global _owner
    with _state:
        if _owner is not None and _owner.is_alive():
            return
        _owner = threading.current_thread()
    import asyncio

    async def wait() -> Any:
        return await asyncio.wrap_future(handed)

    try:
        _drive(loop, wait(), None)
    except BaseException:
        pass  # the caller reads the outcome from its own future


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


def run_on_engine_loop(
    func: Callable[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs
) -> T:
    """Run an async program on the engine's own event loop, like ``asyncio.run``.

    The engine's async calls (``AsyncLocalRuntime().execute``, ``db.*_async``) made from
    a program on this loop reach the database directly; from any other loop each call
    hops to the engine's loop through a worker thread. A server that spends its life
    calling the engine (an MCP or HTTP server) runs here. anyio programs run too (the
    loop is asyncio). Blocking calls (``LocalRuntime().execute``) are refused inside it.

    Example::

        async def main() -> None:
            results, _ = await AsyncLocalRuntime().execute(wf)

        run_on_engine_loop(main)
    """
    return run_sync(func(*args, **kwargs))


def engine_bound(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """An async method that runs on the engine's loop, whichever loop awaits it: the
    pools it uses are bound to the engine's loop, never to the caller's."""

    @functools.wraps(method)
    async def bound(*args: P.args, **kwargs: P.kwargs) -> T:
        coro = method(*args, **kwargs)
        if in_engine_loop():
            return await coro
        return await run_async(coro)

    return bound


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
