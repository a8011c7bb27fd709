"""Training throughput: bo-nas's trainer against a plain PyTorch loop, same network.

The plain loop is what one writes first: fp32, default memory format, a
``torch.utils.data.DataLoader`` over a map-style dataset that normalises and augments
one image at a time. Ours is `bo_nas.training.train` with its defaults for the device
(CUDA: mixed precision, channels-last, cudnn.benchmark, data resident on the GPU).
Both train the same NB-201 network from the same initial weights with the same
optimiser; the first epoch of each is a warm-up and is not timed.

Run (small, CPU)::

    python -m benchmarks.bench_training
    python -m benchmarks.bench_training --device cuda --dataset synthetic --channels 16 \
        --cells 5 --images 20000 --batch-size 256
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from bo_nas.encodings import nb201_architecture
from bo_nas.training import (
    ImageDataset,
    TrainConfig,
    build_network,
    load_dataset,
    resolve_device,
    synthetic_dataset,
    train,
)

DEFAULT_CELL = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)


class _PlainImages(Dataset):
    """One image at a time: float conversion, pad-crop, flip, normalise."""

    def __init__(self, data: ImageDataset, generator: torch.Generator) -> None:
        self.x, self.y = data.train_x, data.train_y
        self.pad, self.flip = data.crop_padding, data.flip
        self.mean = torch.tensor(data.mean).view(-1, 1, 1)
        self.std = torch.tensor(data.std).view(-1, 1, 1)
        self.gen = generator

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = self.x[i].float() / 255.0
        if self.pad:
            _, h, w = img.shape
            img = nn.functional.pad(img, (self.pad,) * 4)
            dy, dx = torch.randint(0, 2 * self.pad + 1, (2,), generator=self.gen).tolist()
            img = img[:, dy:dy + h, dx:dx + w]
        if self.flip and torch.rand(1, generator=self.gen).item() < 0.5:
            img = img.flip(2)
        return (img - self.mean) / self.std, int(self.y[i])


def plain_throughput(model: nn.Module, data: ImageDataset, epochs: int, batch_size: int,
                     device: torch.device, lr: float = 0.1) -> float:
    """Images per second of a straightforward fp32 loop (first epoch not timed)."""
    gen = torch.Generator().manual_seed(0)
    loader = DataLoader(_PlainImages(data, gen), batch_size=batch_size, shuffle=True,
                        drop_last=True, generator=torch.Generator().manual_seed(0))
    model = model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    steps = epochs * len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.5 * (1 + math.cos(math.pi * min(t, steps) / steps)))
    loss_fn = nn.CrossEntropyLoss()
    seen, elapsed = 0, 0.0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        n = 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            n += len(y)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if epoch > 0:
            seen += n
            elapsed += time.perf_counter() - t0
    return seen / elapsed


def ours_throughput(model: nn.Module, data: ImageDataset, config: TrainConfig) -> float:
    """Images per second of `train` (first epoch not timed)."""
    curve = train(model, data, config).curve
    timed = curve[1:] or curve
    return sum(e.images_per_second * e.seconds for e in timed) / sum(e.seconds for e in timed)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    p.add_argument("--dataset", default="digits", choices=["digits", "synthetic", "cifar10",
                                                           "cifar100"])
    p.add_argument("--data-dir", default=None, help="folder of the CIFAR python batches")
    p.add_argument("--images", type=int, default=2048, help="synthetic training set size")
    p.add_argument("--arch", default=DEFAULT_CELL, help="NB-201 cell string")
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--cells", type=int, default=1, help="cells per stage")
    p.add_argument("--epochs", type=int, default=3, help="epochs per run (first is warm-up)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    p.add_argument("--compile", nargs="?", const="default", default=False, metavar="MODE",
                   help="torch.compile in our trainer, optionally with a mode "
                        "(reduce-overhead: CUDA graphs; TrainConfig checks the name)")
    args = p.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.dataset == "synthetic":
        data = synthetic_dataset(args.images + args.images // 9, (3, 32, 32), 10, seed=0)
    else:
        data = load_dataset(args.dataset, args.data_dir)
    model = build_network(nb201_architecture(args.arch), "nb201", data.num_classes,
                          channels=args.channels, cells_per_stage=args.cells,
                          in_channels=data.image_shape[0],
                          generator=torch.Generator().manual_seed(0))
    plain_model = copy.deepcopy(model)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, device=str(device),
                         compile=args.compile, eval_every=0)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device: {device} ({name}), torch threads {torch.get_num_threads()}")
    print(f"data: {data}")
    print(f"network: NB-201 C={args.channels} N={args.cells}, batch {args.batch_size}, "
          f"{args.epochs} epochs (first untimed)")
    plain = plain_throughput(plain_model, data, args.epochs, args.batch_size, device)
    ours = ours_throughput(model, data, config)
    print(f"plain PyTorch loop : {plain:10.1f} images/s")
    print(f"bo-nas trainer     : {ours:10.1f} images/s")
    print(f"ratio (ours/plain) : {ours / plain:10.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
