r"""The training loop: one function for CPU and GPU.

SGD with Nesterov momentum and weight decay, a per-step cosine schedule
:math:`\eta_t = \tfrac{\eta_0}{2}\big(1 + \cos(\pi t / T)\big)` over all
:math:`T` steps, cross-entropy with optional label smoothing. On CUDA: automatic mixed
precision (bfloat16 where supported, else float16 with loss scaling), channels-last
tensors, ``cudnn.benchmark``, the dataset resident on the GPU when it fits (else
streamed from pinned memory by background threads), optional ``torch.compile``.
Process-wide backend settings are restored when training returns.

A run can stop before its planned epochs (``until``) and be continued later from a
checkpoint file, written atomically after every epoch: the continued run takes exactly
the steps the uninterrupted one would (same schedule, momentum, data order).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from bo_nas.encodings import BoNasError

from ._data import ImageDataset
from ._flops import count_flops, count_parameters
from ._loader import Batches

logger = logging.getLogger(__name__)


class TrainingError(BoNasError, RuntimeError):
    """Training could not finish."""


class TrainingDivergedError(TrainingError):
    """The training loss became NaN or infinite."""


class TrainingOutOfMemoryError(TrainingError, MemoryError):
    """The device ran out of memory (the CUDA cache has been emptied)."""


class CheckpointError(TrainingError):
    """A training checkpoint cannot be used (unreadable, truncated, written for another
    network or other settings, or past the requested epoch) or cannot be written; the
    message names the file."""


_COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run; validated on construction.

    Attributes:
        epochs: Passes over the training split.
        batch_size: Training images per step.
        lr: Initial learning rate :math:`\\eta_0` of the cosine schedule.
        momentum: Nesterov momentum.
        weight_decay: L2 weight decay (every parameter).
        label_smoothing: Cross-entropy label smoothing in [0, 1).
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``,
            ``"cuda:1"``…
        amp: Mixed precision; ``None`` means on for CUDA, off for CPU.
        amp_dtype: ``"bfloat16"`` or ``"float16"``; ``None`` picks bfloat16 when the
            GPU supports it.
        channels_last: ``None`` means on for CUDA.
        compile: Wrap the model in ``torch.compile``: ``True`` (mode ``"default"``) or a
            mode name, ``"reduce-overhead"`` (CUDA graphs: for small networks whose
            steps are bound by kernel-launch overhead), ``"max-autotune"`` or
            ``"max-autotune-no-cudagraphs"``. (Training batches all have the same
            shape, the last incomplete one being dropped, so a graph is recorded once.)
        deterministic: Deterministic kernels (``torch.use_deterministic_algorithms``,
            no ``cudnn.benchmark``): bit-identical reruns on GPU, slower.
        data_on_device: Keep the dataset on the GPU; ``None`` means when it takes less
            than a quarter of the free GPU memory.
        workers: Background threads streaming batches when the data is not resident.
        threads: CPU threads for this run (``torch.set_num_threads``); ``None`` keeps
            the process setting.
        eval_batch_size: Images per evaluation step.
        eval_every: Validate every so many epochs (the last epoch always); 0: last only.
        seed: Seeds shuffling and augmentation (and nothing global).
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    device: str = "auto"
    amp: bool | None = None
    amp_dtype: str | None = None
    channels_last: bool | None = None
    compile: bool | str = False
    deterministic: bool = False
    data_on_device: bool | None = None
    workers: int = 2
    threads: int | None = None
    eval_batch_size: int = 1024
    eval_every: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "workers", "eval_batch_size"):
            _check_int(name, getattr(self, name), 1)
        _check_int("eval_every", self.eval_every, 0)
        _check_int("seed", self.seed, 0)
        if self.threads is not None:
            _check_int("threads", self.threads, 1)
        for name in ("lr", "momentum", "weight_decay"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v < 0:
                raise ValueError(f"{name}: expected a finite number >= 0, got {v!r}")
        if self.lr <= 0:
            raise ValueError(f"lr: expected a positive learning rate, got {self.lr!r}")
        ls = self.label_smoothing
        if isinstance(ls, bool) or not isinstance(ls, (int, float)) or not 0.0 <= ls < 1.0:
            raise ValueError(f"label_smoothing: expected a number in [0, 1), got {ls!r}")
        if not isinstance(self.compile, bool) and self.compile not in _COMPILE_MODES:
            raise ValueError(
                f"compile: expected true, false or one of {', '.join(_COMPILE_MODES)}, "
                f"got {self.compile!r}"
            )
        if self.amp_dtype not in (None, "bfloat16", "float16"):
            raise ValueError(
                f"amp_dtype: expected 'bfloat16', 'float16' or None, got {self.amp_dtype!r}"
            )
        if not isinstance(self.device, str):
            raise ValueError(f"device: expected a string such as 'auto', got {self.device!r}")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, ValueError) as exc:
                raise ValueError(f"device: {self.device!r} is not a torch device ({exc})") from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_int(name: str, value: object, low: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")


@dataclass(frozen=True)
class EpochStats:
    """One epoch of training.

    Attributes:
        epoch: 1-based epoch number.
        lr: Learning rate at the epoch's first step.
        train_loss: Mean training loss over the epoch's steps.
        train_accuracy: Accuracy (%) on the augmented training batches.
        val_accuracy: Validation accuracy (%) after the epoch, or None when skipped.
        seconds: Wall time of the epoch's training steps (validation excluded).
        images_per_second: Training throughput.
    """

    epoch: int
    lr: float
    train_loss: float
    train_accuracy: float
    val_accuracy: float | None
    seconds: float
    images_per_second: float


@dataclass(frozen=True)
class TrainResult:
    """What `train` measured.

    Attributes:
        val_accuracy: Final validation accuracy (%).
        test_accuracy: Final test accuracy (%), None without a test split.
        train_seconds: Wall time of this call (training, validation, set-up,
            checkpoints), not of the epochs a loaded checkpoint had trained.
        params: Number of parameters.
        flops: FLOPs of one image's forward pass (`count_flops`).
        curve: Per-epoch statistics of every epoch from the first, those of a loaded
            checkpoint included.
        device: The device trained on, e.g. ``"cpu"`` or ``"cuda:0"``.
        images_per_second: Training throughput over all epochs (a loaded checkpoint's
            included).
        start_epoch: The epoch this call continued from (0: a fresh run).
        epochs: The epoch reached, where the accuracies were measured.
    """

    val_accuracy: float
    test_accuracy: float | None
    train_seconds: float
    params: int
    flops: int
    curve: list[EpochStats] = field(default_factory=list)
    device: str = "cpu"
    images_per_second: float = 0.0
    start_epoch: int = 0
    epochs: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` → the first CUDA device when available, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} requested but CUDA is not available")
    return dev


@dataclass(frozen=True)
class CpuSettings:
    """Suggested settings for CPU training (see `suggest_cpu_settings`).

    Attributes:
        cores: CPU cores available to this process.
        workers: Evaluations to run in parallel (processes).
        threads: Torch threads per evaluation.
        batch_size: Training batch size.
    """

    cores: int
    workers: int
    threads: int
    batch_size: int


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def suggest_cpu_settings(workers: int | None = None) -> CpuSettings:
    """Workers, threads per worker and batch size for training small networks on CPU.

    Small cells on small images do not keep several threads busy, so one single-thread
    worker per core evaluates the most architectures per minute; a batch of 64 keeps
    per-step overhead low while giving enough steps per epoch on digits (1,150 training
    images → 17 steps).

    Args:
        workers: Parallel evaluations; one per core when omitted.
    """
    cores = available_cores()
    w = cores if workers is None else workers
    _check_int("workers", w, 1)
    return CpuSettings(cores=cores, workers=w, threads=max(1, cores // w), batch_size=64)


@contextlib.contextmanager
def _backend(device: torch.device, config: TrainConfig) -> Iterator[None]:
    # Process-wide switches, restored on exit so a library call leaves no trace.
    cudnn = torch.backends.cudnn
    saved = (cudnn.benchmark, cudnn.deterministic, torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(), torch.get_num_threads())
    try:
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        if config.deterministic:
            cudnn.benchmark, cudnn.deterministic = False, True
            torch.use_deterministic_algorithms(True, warn_only=True)
        elif device.type == "cuda":
            cudnn.benchmark = True
        yield
    finally:
        cudnn.benchmark, cudnn.deterministic = saved[0], saved[1]
        torch.use_deterministic_algorithms(saved[2], warn_only=saved[3])
        torch.set_num_threads(saved[4])


def _amp_dtype(device: torch.device, config: TrainConfig) -> torch.dtype | None:
    use = config.amp if config.amp is not None else device.type == "cuda"
    if not use:
        return None
    if config.amp_dtype == "float16":
        return torch.float16
    if config.amp_dtype == "bfloat16" or device.type != "cuda":
        return torch.bfloat16
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _resident(device: torch.device, data: ImageDataset, config: TrainConfig) -> bool:
    if device.type != "cuda":
        return True
    if config.data_on_device is not None:
        return config.data_on_device
    free, _ = torch.cuda.mem_get_info(device)
    return data.nbytes < free // 4


def _seeds(seed: int) -> tuple[int, int]:
    # Independent streams for shuffling/augmentation and anything later added.
    a, b = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64)
    return int(a) >> 1, int(b) >> 1


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, batches: Batches, amp: torch.dtype | None) -> float:
    """Top-1 accuracy (%) of ``model`` in eval mode over ``batches``."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=batches.device)
    for x, y in batches:
        with torch.autocast(batches.device.type, dtype=amp or torch.float32,
                            enabled=amp is not None):
            logits = model(x)
        correct += (logits.argmax(1) == y).sum()
    return 100.0 * float(correct) / max(1, batches.n)


def train(
    model: nn.Module,
    data: ImageDataset,
    config: TrainConfig | None = None,
    *,
    until: int | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train ``model`` on ``data`` and measure it.

    The model is moved to the device and trained in place. The reported accuracies
    are those of the model at epoch ``until`` (no early stopping, no selection on
    validation).

    ``config.epochs`` is the planned total: the cosine schedule always spans it, so a
    run stopped at ``until`` and continued later from its checkpoint takes exactly the
    steps of a run trained straight through (bit-identical on CPU and with
    deterministic kernels).

    Args:
        model: Network mapping `B x C x H x W` images to `B x num_classes` logits.
        data: The dataset (`load_dataset`).
        config: Settings; `TrainConfig()` when omitted.
        until: Epoch to stop at and report, 1 to ``config.epochs`` (the default).
        checkpoint: File of the training state. When it exists, the model, optimizer,
            schedule, loss scaler, data-order generator and curve are loaded from it
            and training continues from its epoch (a checkpoint already at ``until``
            trains nothing and only measures). After every epoch it is rewritten
            atomically (temporary file in the same folder, fsync, rename), so a killed
            run loses at most the epoch in progress. Its folder must exist. The file is
            a ``torch.save`` of plain containers, tensors and numbers, readable with
            ``torch.load(..., weights_only=True)``.

    Raises:
        ValueError: when ``until`` is not an integer in 1..``config.epochs``.
        CheckpointError: when the checkpoint is unreadable or truncated, was written
            for another network (parameter names or shapes differ) or other settings
            (planned epochs, batch size, steps per epoch, learning rate, momentum,
            weight decay, label smoothing, seed), is past ``until``, or cannot be
            written; nothing is trained from scratch in its place.
        TrainingDivergedError: when the training loss becomes NaN or infinite.
        TrainingOutOfMemoryError: when the device runs out of memory (the CUDA cache
            is emptied before raising).

    Example:
        >>> data = load_dataset("digits")  # doctest: +SKIP
        >>> net = build_network(arch, "nb201", 10, in_channels=1, channels=8)  # doctest: +SKIP
        >>> train(net, data, TrainConfig(epochs=5, device="cpu")).val_accuracy  # doctest: +SKIP
    """
    config = config or TrainConfig()
    stop = config.epochs if until is None else until
    if isinstance(stop, bool) or not isinstance(stop, (int, np.integer)) \
            or not 1 <= stop <= config.epochs:
        raise ValueError(f"until: expected an integer in 1..{config.epochs}, got {until!r}")
    stop = int(stop)
    path = None if checkpoint is None else os.fspath(checkpoint)
    if path is not None:
        folder = os.path.dirname(os.path.abspath(path))
        # Checked now rather than after the first epoch, whose work would be lost.
        if not os.path.isdir(folder):
            raise CheckpointError(f"checkpoint {path}: folder {folder} does not exist")
    device = resolve_device(config.device)
    params = count_parameters(model)
    flops = count_flops(model, data.image_shape)
    start = time.perf_counter()
    reason = ""
    try:
        with _backend(device, config):
            run = _train(model, data, config, device, stop, path)
    except torch.OutOfMemoryError as exc:
        # Leave the except block first: its traceback pins the tensors we want freed.
        reason = str(exc).splitlines()[0] if str(exc) else "out of memory"
    if reason:
        model.to("cpu")
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise TrainingOutOfMemoryError(f"out of memory on {device}: {reason}")
    return TrainResult(
        val_accuracy=run.val,
        test_accuracy=run.test,
        train_seconds=time.perf_counter() - start,
        params=params,
        flops=flops,
        curve=run.curve,
        device=str(device) if device.index is not None or device.type == "cpu"
        else f"cuda:{torch.cuda.current_device()}",
        images_per_second=run.images_per_second,
        start_epoch=run.start_epoch,
        epochs=stop,
    )


def _compiled(model: nn.Module, mode: bool | str, cuda: bool) -> tuple[nn.Module, bool]:
    """``model`` wrapped by ``torch.compile`` (or itself), and whether CUDA graphs are on."""
    if mode is False:
        return model, False
    name = "default" if mode is True else str(mode)
    return torch.compile(model, mode=name), cuda and name in ("reduce-overhead", "max-autotune")


_CHECKPOINT_FORMAT = "bo_nas.training.checkpoint"
_CHECKPOINT_VERSION = 1
_CHECKPOINT_KEYS = frozenset({
    "format", "version", "epoch", "settings", "model", "optimizer", "schedule", "scaler",
    "generator", "curve", "images", "train_time",
})


def _settings(config: TrainConfig, steps_per_epoch: int) -> dict[str, int | float]:
    """What fixes the trajectory of a run: a checkpoint written under other values would
    continue a different schedule (or silently override these with its own)."""
    return {"epochs": config.epochs, "batch_size": config.batch_size,
            "steps_per_epoch": steps_per_epoch, "lr": float(config.lr),
            "momentum": float(config.momentum), "weight_decay": float(config.weight_decay),
            "label_smoothing": float(config.label_smoothing), "seed": config.seed}


def _read_checkpoint(path: str) -> dict[str, Any]:
    """The checkpoint at ``path``, checked for its format but not yet for this run."""
    # Broad on purpose: a damaged file raises whatever its bytes provoke (zip, pickle,
    # EOF, weights-only errors...), and each must name the file.
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint {path} is unreadable ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != _CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a bo_nas training checkpoint")
    if state.get("version") != _CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has version {state.get('version')!r}, "
            f"this bo_nas reads {_CHECKPOINT_VERSION}"
        )
    missing = sorted(_CHECKPOINT_KEYS - set(state))
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {missing}")
    return state


def _write_checkpoint(path: str, state: Mapping[str, Any]) -> None:
    """Replace ``path`` by ``state`` atomically: readers (and a run killed mid-write)
    see the old file or the new one, never a partial one."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                   suffix=".tmp")
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path} cannot be written: {exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(dict(state), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise CheckpointError(f"checkpoint {path} cannot be written: {exc}") from exc
        raise
    # The rename itself survives a power cut only once the folder entry is on disk.
    with contextlib.suppress(OSError, AttributeError):
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


@dataclass
class _Run:
    """What `_train` hands back to `train`."""

    curve: list[EpochStats]
    val: float
    test: float | None
    images_per_second: float
    start_epoch: int


@dataclass
class _Progress:
    """Training state beyond the modules: what a checkpoint restores."""

    epoch: int = 0
    curve: list[EpochStats] = field(default_factory=list)
    images: int = 0
    train_time: float = 0.0


def _restore(
    path: str,
    state: Mapping[str, Any],
    settings: Mapping[str, int | float],
    until: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    gen: torch.Generator,
) -> _Progress:
    """Load ``state`` (read from ``path``) into the run's objects, or raise
    `CheckpointError` when it does not belong to this run."""
    saved = state["settings"]
    if not isinstance(saved, dict):
        raise CheckpointError(f"checkpoint {path}: malformed settings {saved!r}")
    differ = [f"{k} {saved.get(k)!r} (here {v!r})" for k, v in settings.items()
              if saved.get(k) != v]
    if differ:
        raise CheckpointError(
            f"checkpoint {path} was written for other settings: {', '.join(differ)}"
        )
    epoch = state["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) \
            or not 1 <= epoch <= settings["epochs"]:
        raise CheckpointError(f"checkpoint {path}: malformed epoch {epoch!r}")
    if epoch > until:
        raise CheckpointError(
            f"checkpoint {path} is at epoch {epoch}, past the requested epoch {until}"
        )
    try:
        curve = [EpochStats(**e) for e in state["curve"]]
        images, train_time = int(state["images"]), float(state["train_time"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path}: malformed curve or counters ({exc})") from exc
    if [e.epoch for e in curve] != list(range(1, epoch + 1)):
        raise CheckpointError(f"checkpoint {path}: its curve does not cover epochs 1..{epoch}")
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, ValueError, KeyError, AttributeError) as exc:
        # load_state_dict lists every missing, unexpected and mis-shaped parameter.
        detail = " ".join(str(exc).split())
        raise CheckpointError(
            f"checkpoint {path} was written for another network: {detail}"
        ) from exc
    generator = state["generator"]
    try:
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        # A scaler disabled when the checkpoint was written (CPU, bfloat16) saved {};
        # a run that scales now starts from a fresh scale, as the scale only adapts.
        if scaler.is_enabled() and state["scaler"]:
            scaler.load_state_dict(state["scaler"])
        if not isinstance(generator, torch.Tensor) or generator.dtype != torch.uint8:
            raise TypeError(f"generator state must be a uint8 tensor, got {type(generator)}")
        gen.set_state(generator.contiguous())
    except (RuntimeError, TypeError, ValueError, KeyError, IndexError) as exc:
        detail = " ".join(str(exc).split())
        raise CheckpointError(f"checkpoint {path}: its training state does not load ({detail})") \
            from exc
    return _Progress(epoch, curve, images, train_time)


def _train(
    model: nn.Module,
    data: ImageDataset,
    config: TrainConfig,
    device: torch.device,
    until: int,
    checkpoint: str | None,
) -> _Run:
    cuda = device.type == "cuda"
    amp = _amp_dtype(device, config)
    channels_last = config.channels_last if config.channels_last is not None else cuda
    # Read before any work so a damaged file fails fast.
    state = _read_checkpoint(checkpoint) \
        if checkpoint is not None and os.path.exists(checkpoint) else None
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(_seeds(config.seed)[0])
    resident = _resident(device, data, config)
    common: dict[str, Any] = {"device": device, "mean": data.mean, "std": data.std,
                              "resident": resident, "workers": config.workers,
                              "channels_last": channels_last}
    train_b = Batches(data.train_x, data.train_y, config.batch_size, train=True,
                      crop_padding=data.crop_padding, flip=data.flip, generator=gen, **common)
    val_b = Batches(data.val_x, data.val_y, config.eval_batch_size, train=False, **common)
    logger.debug("training on %s: amp=%s channels_last=%s resident=%s", device, amp,
                 channels_last, resident)

    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                nesterov=config.momentum > 0, weight_decay=config.weight_decay)
    total = config.epochs * len(train_b)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, total) / total))
    )
    scaler = torch.amp.GradScaler("cuda", enabled=cuda and amp == torch.float16)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    settings = _settings(config, len(train_b))
    progress = _Progress()
    if state is not None:
        assert checkpoint is not None
        progress = _restore(checkpoint, state, settings, until, model, optimizer, schedule,
                            scaler, gen)
        logger.debug("continuing from %s at epoch %d", checkpoint, progress.epoch)
    del state  # the loaded tensors were copied into the model and optimizer
    start_epoch = progress.epoch
    # Compiled after loading: the weights are copied into the same parameters anyway,
    # and a failed load should not pay for compilation.
    net, graphs = _compiled(model, config.compile, cuda)

    curve = progress.curve
    val: float | None = None
    for epoch in range(start_epoch + 1, until + 1):
        model.train()
        lr = optimizer.param_groups[0]["lr"]
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        seen = 0
        t0 = time.perf_counter()
        for x, y in train_b:
            if graphs:
                # Each step's graph outputs may be overwritten by the next replay; the
                # marker tells the CUDA-graph trees a new iteration begins.
                torch.compiler.cudagraph_mark_step_begin()
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                logits = net(x)
                loss = loss_fn(logits, y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            schedule.step()
            if not cuda and not math.isfinite(loss.item()):
                # A CPU step is synchronous anyway; stop at once (NaNs also slow CPUs down).
                raise TrainingDivergedError(
                    f"training loss became {loss.item()} in epoch {epoch} (lr {config.lr})"
                )
            loss_sum += loss.detach().float() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            seen += len(y)
        mean_loss = float(loss_sum) / max(1, seen)  # one device sync per epoch
        seconds = time.perf_counter() - t0
        progress.train_time += seconds
        progress.images += seen
        if not math.isfinite(mean_loss):
            raise TrainingDivergedError(
                f"training loss became {mean_loss} in epoch {epoch} (lr {config.lr})"
            )
        val = None
        if epoch == until or (config.eval_every and epoch % config.eval_every == 0):
            val = evaluate_accuracy(net, val_b, amp)
        curve.append(EpochStats(epoch, lr, mean_loss, 100.0 * float(correct) / max(1, seen),
                                val, seconds, seen / seconds if seconds > 0 else 0.0))
        progress.epoch = epoch
        logger.debug("epoch %d: loss %.4f val %s", epoch, mean_loss, val)
        if checkpoint is not None:
            # The generator is saved here, between epochs, where the next epoch's
            # shuffle and augmentation draws all still lie ahead of it.
            _write_checkpoint(checkpoint, {
                "format": _CHECKPOINT_FORMAT, "version": _CHECKPOINT_VERSION,
                "epoch": epoch, "settings": settings,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(), "scaler": scaler.state_dict(),
                "generator": gen.get_state(), "curve": [asdict(e) for e in curve],
                "images": progress.images, "train_time": progress.train_time,
            })
    if val is None:
        # Nothing left to train (the checkpoint was at `until`): measure the loaded model,
        # and record the measurement when that epoch's validation was skipped.
        val = evaluate_accuracy(net, val_b, amp)
        if curve[-1].val_accuracy is None:
            curve[-1] = replace(curve[-1], val_accuracy=val)
    test = None
    if data.test_x is not None and data.test_y is not None:
        test_b = Batches(data.test_x, data.test_y, config.eval_batch_size, train=False, **common)
        test = evaluate_accuracy(net, test_b, amp)
    ips = progress.images / progress.train_time if progress.train_time > 0 else 0.0
    return _Run(curve, val, test, ips, start_epoch)
