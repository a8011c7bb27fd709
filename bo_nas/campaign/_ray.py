"""Ray: evaluate on a Ray cluster, one task (and its GPUs) per evaluation.

`ray_executor` turns the Ray instance this process is connected to into a
``concurrent.futures.Executor``, which `Campaign.run` takes like any other. To run one
campaign across several GPU machines::

    # on the head machine (it may have GPUs too)
    ray start --head --port=6379
    # on every other machine (--num-gpus: Ray counts them when omitted)
    ray start --address=HEAD_IP:6379 --num-gpus=8

    # the campaign, on any machine of the cluster
    import ray
    ray.init(address="auto")
    campaign.run(budget=200, batch_size=16, executor=ray_executor(num_gpus=1),
                 asynchronous=True)

Keep ``batch_size`` at the cluster's GPU count: more tasks than GPUs only queue. Every
machine needs the same Python environment (bo-nas, the evaluator's code) and the data
its evaluator reads: workers inherit the environment of ``ray start``, so set
``BO_NAS_DATA_DIR`` there (or pass ``runtime_env={"env_vars": {...}}`` to ``ray.init``).
Ray's token authentication, when enabled, needs the same token on every machine (see
Ray's "token authentication" documentation).

Pinning to GPUs. A task that asks for ``num_gpus=1`` is scheduled only where a GPU is
free, and Ray sets ``CUDA_VISIBLE_DEVICES`` in its worker process to the GPU it was
given: the evaluation sees one device, ``cuda:0``, and no two tasks share it. Ray runs
each GPU task in a fresh worker process (a remote function that asks for GPUs gets
``max_calls=1``), so a task's CUDA context and cached memory go when it ends and the
next task's ``CUDA_VISIBLE_DEVICES`` takes effect. A fraction (``num_gpus=0.5``) puts
two evaluations on one GPU: both see it and their memory is not separated.

Failures. An evaluation that raises comes back as a failed evaluation. A worker process
that dies (segfault, out-of-memory kill, ``os._exit``) fails only its own task, with
``ray.exceptions.WorkerCrashedError``; the campaign records that as a failed attempt and
submits it again, as a new task, while its ``max_retries`` allows. Ray's own retry of a
task whose worker died (``max_retries`` here, 3 in plain Ray) is off by default, so
that an architecture that crashes its worker is not run again behind the campaign's
back, taking a worker down each time, and every attempt is counted in the store.

Cancelling. ``Future.cancel()`` (a campaign's ``timeout``, or a run that stops with
evaluations in flight) also cancels the Ray task: a queued task never starts and a
running one gets ``KeyboardInterrupt`` at its next Python instruction (``ray.cancel``;
a long call into C, one ``time.sleep`` say, ends first), so a late training gives its GPU
back rather than running on unseen.

Evaluators travel to workers by pickle (Ray's cloudpickle) with every task: tabular
benchmarks pickle as their settings and reload the table once per worker process (so
once per task with GPUs).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, InvalidStateError
from concurrent.futures import wait as wait_all
from typing import Any, TypeVar

from ._dask import _check_resources

logger = logging.getLogger(__name__)

T = TypeVar("T")

_NOT_INITIALISED = (
    "Ray is not initialised in this process: call ray.init(address=...) first "
    "(address='auto' on a machine of the cluster, or ray.init() for a local instance)"
)


def _call(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """The body of every Ray task: one submitted call."""
    return fn(*args, **kwargs)


def _check_amount(name: str, value: float) -> float:
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    return value


class _RayFuture(Future[T]):
    """The future of one Ray task; cancelling it cancels the task.

    Attributes:
        ref: The task's ``ray.ObjectRef``.
    """

    def __init__(self, ref: Any) -> None:
        super().__init__()
        self.ref = ref
        self._cancelling = threading.Lock()

    def _settle(self, done: Future[T]) -> None:
        """Copy the outcome of Ray's own future (``ObjectRef.future()``) into this one."""
        try:
            error = done.exception()
            if error is None:
                self.set_result(done.result())
            else:
                self.set_exception(error)
        except InvalidStateError:
            pass  # cancelled in the meantime: the outcome of a cancelled task is dropped

    def cancel(self) -> bool:
        """Mark the future cancelled and ask Ray to cancel its task.

        Returns:
            ``False`` if the task had already finished; ``True`` otherwise, also for a
            running task (it is interrupted, not waited for).
        """
        with self._cancelling:
            if self.cancelled():
                return True
            if not super().cancel():
                return False
            # What an executor does when it dequeues a cancelled task: without it,
            # ``concurrent.futures.wait`` does not count the future as done, ever.
            self.set_running_or_notify_cancel()
        import ray

        if ray.is_initialized():
            try:
                ray.cancel(self.ref)
            except Exception as exc:
                # Best effort: the future is cancelled already, and a campaign cancels
                # in a ``finally`` where raising would hide the error that got it there.
                logger.warning("could not cancel Ray task %s: %s", self.ref, exc)
        return True


class _RayExecutor(Executor):
    """Submits each call as one Ray task with fixed resource options."""

    def __init__(self, task: Any, options: Mapping[str, Any]) -> None:
        self._task = task
        self.options = dict(options)
        self._lock = threading.Lock()
        self._shutdown = False
        self._pending: set[Future[Any]] = set()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        import ray

        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new tasks after shutdown")
            # ``.remote()`` would otherwise start a new local instance, silently, in
            # place of the cluster that went away.
            if not ray.is_initialized():
                raise RuntimeError(_NOT_INITIALISED)
            fut: _RayFuture[T] = _RayFuture(self._task.remote(fn, *args, **kwargs))
            self._pending.add(fut)
        fut.add_done_callback(self._forget)
        fut.ref.future().add_done_callback(fut._settle)
        return fut

    def _forget(self, fut: Future[Any]) -> None:
        with self._lock:
            self._pending.discard(fut)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new tasks; optionally cancel those not done, and wait for the rest.

        Args:
            wait: Return only when every submitted task's future is done.
            cancel_futures: Cancel the Ray tasks not yet finished, running ones included
                (a thread or process pool cancels only queued ones; Ray can interrupt).
        """
        with self._lock:
            self._shutdown = True
            pending = list(self._pending)
        # Outside the lock: cancelling runs `_forget`, which takes it.
        if cancel_futures:
            for fut in pending:
                fut.cancel()
        if wait:
            wait_all(pending)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"ray_executor({opts})"


def ray_executor(
    *,
    num_gpus: float = 0,
    num_cpus: float = 1,
    resources: Mapping[str, float] | None = None,
    max_retries: int = 0,
) -> Executor:
    """A ``concurrent.futures.Executor`` that runs each evaluation as one Ray task.

    Needs a connected Ray instance (``ray.init(address=...)`` beforehand); the executor
    neither starts nor stops Ray. Each ``submit(fn, *args, **kwargs)`` is one
    ``ray.remote`` task with the resources below, and returns a standard
    ``concurrent.futures.Future``: ``concurrent.futures.wait`` works on it, an exception
    raised by ``fn`` arrives as its exception, and so does
    ``ray.exceptions.WorkerCrashedError`` when the task's worker process died.

    Args:
        num_gpus: GPUs each task holds; Ray pins the task to them through
            ``CUDA_VISIBLE_DEVICES``. A fraction shares a GPU between tasks.
        num_cpus: CPUs each task holds (Ray's default, 1). With GPUs, keep it at most
            the machine's CPUs per GPU, or CPUs rather than GPUs limit the tasks.
        resources: Custom Ray resources each task holds, e.g. ``{"A100": 1}`` for
            workers started with ``ray start --resources='{"A100": 8}'``. Not ``"CPU"``
            or ``"GPU"``: those are ``num_cpus`` and ``num_gpus``.
        max_retries: Times Ray itself re-runs a task whose worker died, before its
            future fails with ``WorkerCrashedError``. Leave it at 0 and set the
            campaign's ``max_retries``, which counts every attempt in the store.

    Returns:
        An executor whose ``shutdown(cancel_futures=True)`` and ``Future.cancel()``
        also cancel the Ray tasks.

    Raises:
        ValueError: A resource amount or ``max_retries`` that is not valid.
        RuntimeError: Ray is not initialised in this process.

    Example:
        >>> ray.init(address="auto")                                   # doctest: +SKIP
        >>> campaign.run(200, batch_size=16, asynchronous=True,
        ...              executor=ray_executor(num_gpus=1))            # doctest: +SKIP
    """
    options: dict[str, Any] = {
        "num_cpus": _check_amount("num_cpus", num_cpus),
        "num_gpus": _check_amount("num_gpus", num_gpus),
    }
    checked = _check_resources(resources)
    if checked:
        reserved = sorted({"CPU", "GPU"} & checked.keys())
        if reserved:
            raise ValueError(
                f"resources: {reserved} are Ray's own resources; pass num_cpus= and "
                f"num_gpus= instead, got {dict(checked)!r}"
            )
        options["resources"] = checked
    if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
        raise ValueError(f"max_retries: expected an integer >= 0, got {max_retries!r}")
    options["max_retries"] = max_retries
    try:
        import ray
    except ImportError as exc:
        raise ImportError("ray_executor needs Ray: pip install 'bo-nas[ray]'") from exc

    try:
        # Options given to ``ray.remote`` itself, not ``.options()``: only then does a
        # GPU task get ``max_calls=1`` (a fresh worker process per task).
        task = ray.remote(**options)(_call)
    except (TypeError, ValueError) as exc:  # Ray's own rules (e.g. 0.0001 units at least)
        raise ValueError(f"ray_executor: Ray rejects the task options {options}: {exc}") from exc
    if not ray.is_initialized():
        raise RuntimeError(_NOT_INITIALISED)
    _warn_if_unplaceable(ray, options)
    return _RayExecutor(task, options)


def _warn_if_unplaceable(ray: Any, options: Mapping[str, Any]) -> None:
    """Warn when no node of the cluster offers what one task needs.

    A warning, not an error: an autoscaling cluster adds such a node when tasks wait.
    """
    need = {"CPU": options["num_cpus"], "GPU": options["num_gpus"], **options.get("resources", {})}
    need = {name: amount for name, amount in need.items() if amount > 0}
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    if not any(all(have.get(k, 0) >= v for k, v in need.items()) for have in nodes):
        logger.warning(
            "no node of the Ray cluster offers %s now; tasks wait until one joins "
            "(ray start --num-gpus=N, or --resources='{\"NAME\": N}' for custom ones)",
            need,
        )
