r"""The training loop: one function for CPU and GPU.

SGD with Nesterov momentum and weight decay, a per-step cosine schedule
:math:`\eta_t = \tfrac{\eta_0}{2}\big(1 + \cos(\pi t / T)\big)` over all
:math:`T` steps, cross-entropy with optional label smoothing. On CUDA: automatic mixed
precision (bfloat16 where supported, else float16 with loss scaling), channels-last
tensors, ``cudnn.benchmark``, the dataset resident on the GPU when it fits (else
streamed from pinned memory by background threads), optional ``torch.compile``.
Process-wide backend settings are restored when training returns.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
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
        train_seconds: Wall time of the whole run (training, validation, set-up).
        params: Number of parameters.
        flops: FLOPs of one image's forward pass (`count_flops`).
        curve: Per-epoch statistics.
        device: The device trained on, e.g. ``"cpu"`` or ``"cuda:0"``.
        images_per_second: Training throughput over all epochs.
    """

    val_accuracy: float
    test_accuracy: float | None
    train_seconds: float
    params: int
    flops: int
    curve: list[EpochStats] = field(default_factory=list)
    device: str = "cpu"
    images_per_second: float = 0.0

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


def train(model: nn.Module, data: ImageDataset, config: TrainConfig | None = None) -> TrainResult:
    """Train ``model`` on ``data`` and measure it.

    The model is moved to the device and trained in place. The reported accuracies
    are those of the final model (no early stopping, no selection on validation).

    Args:
        model: Network mapping `B x C x H x W` images to `B x num_classes` logits.
        data: The dataset (`load_dataset`).
        config: Settings; `TrainConfig()` when omitted.

    Raises:
        TrainingDivergedError: when the training loss becomes NaN or infinite.
        TrainingOutOfMemoryError: when the device runs out of memory (the CUDA cache
            is emptied before raising).

    Example:
        >>> data = load_dataset("digits")  # doctest: +SKIP
        >>> net = build_network(arch, "nb201", 10, in_channels=1, channels=8)  # doctest: +SKIP
        >>> train(net, data, TrainConfig(epochs=5, device="cpu")).val_accuracy  # doctest: +SKIP
    """
    config = config or TrainConfig()
    device = resolve_device(config.device)
    params = count_parameters(model)
    flops = count_flops(model, data.image_shape)
    start = time.perf_counter()
    reason = ""
    try:
        with _backend(device, config):
            curve, val, test, ips = _train(model, data, config, device)
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
        val_accuracy=val,
        test_accuracy=test,
        train_seconds=time.perf_counter() - start,
        params=params,
        flops=flops,
        curve=curve,
        device=str(device) if device.index is not None or device.type == "cpu"
        else f"cuda:{torch.cuda.current_device()}",
        images_per_second=ips,
    )


def _compiled(model: nn.Module, mode: bool | str, cuda: bool) -> tuple[nn.Module, bool]:
    """``model`` wrapped by ``torch.compile`` (or itself), and whether CUDA graphs are on."""
    if mode is False:
        return model, False
    name = "default" if mode is True else str(mode)
    return torch.compile(model, mode=name), cuda and name in ("reduce-overhead", "max-autotune")


def _train(
    model: nn.Module, data: ImageDataset, config: TrainConfig, device: torch.device
) -> tuple[list[EpochStats], float, float | None, float]:
    cuda = device.type == "cuda"
    amp = _amp_dtype(device, config)
    channels_last = config.channels_last if config.channels_last is not None else cuda
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

    net, graphs = _compiled(model, config.compile, cuda)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                nesterov=config.momentum > 0, weight_decay=config.weight_decay)
    total = config.epochs * len(train_b)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, total) / total))
    )
    scaler = torch.amp.GradScaler("cuda", enabled=cuda and amp == torch.float16)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    curve: list[EpochStats] = []
    images = 0
    train_time = 0.0
    val: float | None = None
    for epoch in range(1, config.epochs + 1):
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
        train_time += seconds
        images += seen
        if not math.isfinite(mean_loss):
            raise TrainingDivergedError(
                f"training loss became {mean_loss} in epoch {epoch} (lr {config.lr})"
            )
        last = epoch == config.epochs
        val = None
        if last or (config.eval_every and epoch % config.eval_every == 0):
            val = evaluate_accuracy(net, val_b, amp)
        curve.append(EpochStats(epoch, lr, mean_loss, 100.0 * float(correct) / max(1, seen),
                                val, seconds, seen / seconds if seconds > 0 else 0.0))
        logger.debug("epoch %d: loss %.4f val %s", epoch, mean_loss, val)
    assert val is not None
    test = None
    if data.test_x is not None and data.test_y is not None:
        test_b = Batches(data.test_x, data.test_y, config.eval_batch_size, train=False, **common)
        test = evaluate_accuracy(net, test_b, amp)
    return curve, val, test, images / train_time if train_time > 0 else 0.0
