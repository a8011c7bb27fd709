"""Executors: where evaluations run.

`Campaign.run` accepts any ``concurrent.futures.Executor``. This module adds what the
standard library lacks for long searches:

* `InlineExecutor` runs tasks in the calling process (the default; no pickling).
* `local_executor` returns a `RestartingProcessPool`: a process pool with one worker
  per GPU (each pinned to its device) or per CPU core, which replaces itself when a
  worker dies. A plain ``ProcessPoolExecutor`` is *broken* for good once any worker
  dies (segfault, out-of-memory kill, ``os._exit``): every task in flight fails with
  ``BrokenProcessPool`` and every later ``submit`` raises it. The restarting pool lets
  those futures fail (the campaign records each as one failed attempt and retries it
  while ``max_retries`` allows) and starts a fresh pool at the next ``submit``. (With
  a plain ``ProcessPoolExecutor``, `Campaign.run` stops at that ``submit`` with
  ``BrokenProcessPool``; unfinished trials stay pending in the store and
  `Campaign.resume` evaluates them.)
* `wait_futures` is the one place where the campaign waits; an executor that keeps its
  own clock (`bo_nas.campaign.SimulatedExecutor`) decides there which task finishes
  next.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ALL_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar, runtime_checkable

logger = logging.getLogger(__name__)

T = TypeVar("T")


class InlineExecutor(Executor):
    """Runs each task in the calling process at submission (no parallelism, no pickling)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        fut: Future[T] = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # the future carries it, as a pool's would
            fut.set_exception(exc)
        return fut


@runtime_checkable
class ClockedExecutor(Protocol):
    """An executor whose futures complete only when it is asked which finishes next.

    Its futures never complete on their own, so ``concurrent.futures.wait`` on them
    would block forever; `wait_futures` calls the executor's own ``wait`` instead.
    """

    def wait(
        self, fs: Iterable[Future[Any]], return_when: str = ALL_COMPLETED
    ) -> tuple[set[Future[Any]], set[Future[Any]]]:
        """Like ``concurrent.futures.wait``; completes futures in the executor's order."""
        ...


def wait_futures(
    executor: Executor, fs: Iterable[Future[Any]], return_when: str = ALL_COMPLETED
) -> tuple[set[Future[Any]], set[Future[Any]]]:
    """``concurrent.futures.wait``, or the executor's own ``wait`` when it keeps a clock.

    Returns:
        ``(done, not_done)`` as ``concurrent.futures.wait`` does.
    """
    if isinstance(executor, ClockedExecutor):
        return executor.wait(fs, return_when)
    done, not_done = wait(list(fs), return_when=return_when)
    return set(done), set(not_done)


def _cuda_count() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # torch without CUDA support
        return 0


def _pin_worker(counter: Any, devices: tuple[str, ...]) -> None:
    # Workers take devices round-robin in the order they start; the shared counter is
    # the only state they need, so a restarted pool starts again from device 0.
    with counter.get_lock():
        i = counter.value
        counter.value += 1
    os.environ["CUDA_VISIBLE_DEVICES"] = devices[i % len(devices)]


class RestartingProcessPool(Executor):
    """A ``ProcessPoolExecutor`` that starts a fresh pool after a worker died.

    Tasks in flight when a worker dies fail with ``BrokenProcessPool`` (the dead
    worker's task and, because the standard pool cannot tell them apart, every other
    task then running); the next `submit` shuts the broken pool down and starts a new
    one. A campaign therefore counts one failed attempt for each of those trials and
    retries them while ``max_retries`` allows; nothing hangs and nothing is lost.

    Args:
        max_workers: Worker processes.
        devices: When given, worker ``i`` (in start order) sees only
            ``devices[i % len(devices)]`` through ``CUDA_VISIBLE_DEVICES``.
        start_method: ``multiprocessing`` start method; ``spawn`` (default) never
            inherits a CUDA context or held locks from the parent.

    Attributes:
        restarts: How many times a broken pool was replaced.
    """

    def __init__(
        self,
        max_workers: int,
        *,
        devices: Iterable[str | int] | None = None,
        start_method: str = "spawn",
    ) -> None:
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise ValueError(f"max_workers: expected an integer >= 1, got {max_workers!r}")
        self.max_workers = max_workers
        self.devices = None if devices is None else tuple(str(d) for d in devices)
        if self.devices is not None and not self.devices:
            raise ValueError("devices: expected at least one device, got none")
        self._ctx = multiprocessing.get_context(start_method)
        self._lock = threading.Lock()
        self._shutdown = False
        self.restarts = 0
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        if self.devices is None:
            return ProcessPoolExecutor(self.max_workers, mp_context=self._ctx)
        counter = self._ctx.Value("i", 0)
        return ProcessPoolExecutor(
            self.max_workers,
            mp_context=self._ctx,
            initializer=_pin_worker,
            initargs=(counter, self.devices),
        )

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new tasks after shutdown")
            try:
                return self._pool.submit(fn, *args, **kwargs)
            except BrokenProcessPool:
                # A worker died since the last submit: its futures have already failed
                # with BrokenProcessPool, so dropping the old pool loses no task.
                logger.warning(
                    "process pool broken (a worker died); starting a fresh pool of %d workers",
                    self.max_workers,
                )
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                self.restarts += 1
                return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def __repr__(self) -> str:
        return (
            f"RestartingProcessPool(max_workers={self.max_workers}, devices={self.devices}, "
            f"restarts={self.restarts})"
        )


def local_executor(
    max_workers: int | None = None, *, devices: Iterable[str | int] | None = None
) -> RestartingProcessPool:
    """A process pool on this machine: one worker per GPU when GPUs are present, else one
    per CPU core.

    With GPUs, worker ``i`` sees only GPU ``i mod n_gpu`` (``CUDA_VISIBLE_DEVICES``), so
    no two trainings share a device unless ``max_workers`` exceeds the GPU count.
    Workers are started with ``spawn`` and the pool replaces itself when a worker dies
    (see `RestartingProcessPool`). Evaluators travel to the workers by pickle: tabular
    benchmarks pickle as their settings and reload their table once per worker.

    Args:
        max_workers: Worker count; the GPU count, else ``os.cpu_count()``, when omitted.
        devices: GPU ids to pin workers to; the visible CUDA devices when omitted. Pass
            ``[]`` for no pinning.

    Example:
        >>> with local_executor(2) as pool:                       # doctest: +SKIP
        ...     campaign.run(budget=50, batch_size=2, executor=pool)
    """
    if devices is None:
        devices = [str(i) for i in range(_cuda_count())]
    devices = [str(d) for d in devices]
    if max_workers is None:
        max_workers = len(devices) or os.cpu_count() or 1
    return RestartingProcessPool(max_workers, devices=devices or None)
