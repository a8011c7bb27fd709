"""Executors: where evaluations run."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, TypeVar

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


def _cuda_count() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # torch without CUDA support
        return 0


def _pin_worker(queue: Any) -> None:
    gpu = queue.get()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)


def local_executor(max_workers: int | None = None) -> ProcessPoolExecutor:
    """A process pool: one worker per GPU when GPUs are present, else one per CPU core.

    With GPUs, worker i sees only GPU i (``CUDA_VISIBLE_DEVICES``), so no two trainings
    share a device. Workers are started with ``spawn`` so they never inherit a CUDA
    context or locks from the parent.
    """
    n_gpu = _cuda_count()
    if max_workers is None:
        max_workers = n_gpu or os.cpu_count() or 1
    if max_workers < 1:
        raise ValueError(f"max_workers: expected an integer >= 1, got {max_workers}")
    ctx = multiprocessing.get_context("spawn")
    if n_gpu:
        queue = ctx.Manager().Queue()
        for i in range(max_workers):
            queue.put(i % n_gpu)
        return ProcessPoolExecutor(
            max_workers, mp_context=ctx, initializer=_pin_worker, initargs=(queue,)
        )
    return ProcessPoolExecutor(max_workers, mp_context=ctx)
