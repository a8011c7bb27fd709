"""Mini-batches from uint8 image tensors, augmented and normalised on the device.

Two ways to feed a device:

- *resident*: the uint8 images live on the training device (always on CPU; on a GPU
  when they fit), and each batch is an index gather there: no host work at all;
- *streamed*: the images stay in pinned host memory; background threads gather the
  next batches and copy them asynchronously (``non_blocking``), so transfers overlap
  compute.

Either way the random crop (zero padding, as torchvision's ``RandomCrop``) and
horizontal flip are vectorised over the batch on the device, and every random draw
(shuffling, crop offsets, flips) comes from one explicit CPU `torch.Generator`, so a
seed gives the same batches on any device.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import torch
import torch.nn.functional as F


def augment(
    x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator
) -> torch.Tensor:
    """Random crop with zero padding, then random horizontal flip, per image.

    Args:
        x: `B x C x H x W` float images in [0, 1], on any device.
        padding: Pixels of zero padding on each side before an `H x W` crop.
        flip: Flip each image left-right with probability 1/2.
        generator: CPU generator for the offsets and flips.

    Returns:
        `B x C x H x W` augmented images.
    """
    b, c, h, w = x.shape
    if padding > 0:
        offsets = torch.randint(0, 2 * padding + 1, (2, b), generator=generator).to(x.device)
        padded = F.pad(x, (padding, padding, padding, padding))
        rows = offsets[0][:, None] + torch.arange(h, device=x.device)
        cols = offsets[1][:, None] + torch.arange(w, device=x.device)
        x = padded[
            torch.arange(b, device=x.device)[:, None, None, None],
            torch.arange(c, device=x.device)[None, :, None, None],
            rows[:, None, :, None],
            cols[:, None, None, :],
        ]
    if flip:
        mask = (torch.rand(b, generator=generator) < 0.5).to(x.device)
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x


class Batches:
    """An iterable over `(images, labels)` batches, re-shuffled on every pass.

    Args:
        x: `N x C x H x W` uint8 images; ``y``: `N` int64 labels.
        batch_size: Images per batch.
        device: Where batches are delivered.
        mean, std: Per-channel normalisation in [0, 1] units.
        train: Shuffle, augment and drop the last incomplete batch.
        crop_padding, flip: Augmentation (used when ``train``).
        generator: CPU generator of every random draw (required when ``train``).
        resident: Move ``x``/``y`` to ``device`` once; else stream from pinned memory.
        workers: Background threads for streaming.
        channels_last: Deliver images in channels-last memory format.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        device: torch.device,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        *,
        train: bool,
        crop_padding: int = 0,
        flip: bool = False,
        generator: torch.Generator | None = None,
        resident: bool = True,
        workers: int = 2,
        channels_last: bool = False,
    ) -> None:
        if train and generator is None:
            raise ValueError("generator: required for training batches")
        self.device = device
        self.batch_size = batch_size
        self.train = train
        self.crop_padding = crop_padding if train else 0
        self.flip = flip and train
        self.generator = generator
        self.resident = resident or device.type == "cpu"
        self.workers = max(1, workers)
        self.channels_last = channels_last
        self.n = len(x)
        if self.resident:
            self.x, self.y = x.to(device), y.to(device)
        else:
            pin = device.type == "cuda"
            self.x = x.pin_memory() if pin else x
            self.y = y.pin_memory() if pin else y
        shape = (1, len(mean), 1, 1)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(shape)
        self.inv_std = 1.0 / torch.tensor(std, dtype=torch.float32, device=device).view(shape)

    def __len__(self) -> int:
        if self.train:
            return max(1, self.n // self.batch_size)
        return -(-self.n // self.batch_size)

    def _index_batches(self) -> list[torch.Tensor]:
        if self.train:
            order = torch.randperm(self.n, generator=self.generator)
            k = len(self)
            if self.n < self.batch_size:  # a dataset smaller than one batch: one batch
                return [order]
            return list(order[: k * self.batch_size].view(k, self.batch_size))
        return list(torch.arange(self.n).split(self.batch_size))

    def _finish(self, xb: torch.Tensor) -> torch.Tensor:
        x = xb.float().mul_(1.0 / 255.0)
        if self.train and (self.crop_padding or self.flip):
            assert self.generator is not None
            x = augment(x, self.crop_padding, self.flip, self.generator)
        x = (x - self.mean) * self.inv_std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        batches = self._index_batches()
        if self.resident:
            for idx in batches:
                idx = idx.to(self.device)
                yield self._finish(self.x[idx]), self.y[idx]
            return
        yield from self._stream(batches)

    def _gather(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xb, yb = self.x[idx], self.y[idx]
        if self.device.type == "cuda":
            xb, yb = xb.pin_memory(), yb.pin_memory()
        return xb, yb

    def _stream(self, batches: list[torch.Tensor]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        # Index gathers release the GIL, so threads keep `2 * workers` batches ahead.
        with ThreadPoolExecutor(self.workers, thread_name_prefix="bo-nas-loader") as pool:
            pending: deque[Future[tuple[torch.Tensor, torch.Tensor]]] = deque()
            it = iter(batches)
            for idx in it:
                pending.append(pool.submit(self._gather, idx))
                if len(pending) >= 2 * self.workers:
                    break
            while pending:
                xb, yb = pending.popleft().result()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append(pool.submit(self._gather, nxt))
                xb = xb.to(self.device, non_blocking=True)
                yb = yb.to(self.device, non_blocking=True)
                yield self._finish(xb), yb
