"""Image datasets held in memory as uint8 tensors: digits, CIFAR-10, CIFAR-100.

Images are stored as `N x C x H x W` uint8 (digits: the 0–16 grey levels times 15), so a
whole CIFAR split is 150 MB and can live on a GPU; conversion to normalised floats and
augmentation happen per batch, on the training device (`bo_nas.training._loader`).

CIFAR is read from the python-pickle batches of the official archives (no torchvision,
no download). ``data_dir`` may be the extracted folder itself
(``cifar-10-batches-py``/``cifar-100-python``) or a folder containing it.
"""

from __future__ import annotations

import functools
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bo_nas.encodings import BoNasError

DATASETS: tuple[str, ...] = ("digits", "cifar10", "cifar100")

_CIFAR = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch",
                b"labels", 10),
    "cifar100": ("cifar-100-python", ["train"], "test", b"fine_labels", 100),
}


class DatasetError(BoNasError):
    """A dataset could not be found or read."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The dataset folder or one of its files is missing."""


class DatasetFormatError(DatasetError, ValueError):
    """A dataset file is not in the expected format."""


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """Train/validation(/test) splits of an image classification dataset.

    Attributes:
        name: Dataset name.
        train_x, val_x, test_x: `N x C x H x W` uint8 images (``test_x`` may be None).
        train_y, val_y, test_y: `N` int64 labels.
        num_classes: Number of classes.
        mean, std: Per-channel statistics of the training images in [0, 1] units.
        crop_padding: Random-crop padding for training augmentation (0: no crop).
        flip: Random horizontal flips in training augmentation.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor | None
    test_y: torch.Tensor | None
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_padding: int = 4
    flip: bool = True

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """`C x H x W` of one image."""
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def nbytes(self) -> int:
        """Bytes of all images and labels."""
        ts = [self.train_x, self.train_y, self.val_x, self.val_y, self.test_x, self.test_y]
        return sum(t.numel() * t.element_size() for t in ts if t is not None)

    def __repr__(self) -> str:
        n_test = 0 if self.test_x is None else len(self.test_x)
        return (f"ImageDataset({self.name!r}, train={len(self.train_x)}, val={len(self.val_x)}, "
                f"test={n_test}, shape={self.image_shape}, classes={self.num_classes})")


def _stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    f = x.to(torch.float64) / 255.0
    mean = f.mean(dim=(0, 2, 3))
    std = f.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(mean.tolist()), tuple(std.tolist())


def _split(
    x: np.ndarray, y: np.ndarray, n_val: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # A fixed permutation: every evaluation of a campaign sees the same split.
    perm = np.random.default_rng(seed).permutation(len(x))
    val, train = perm[:n_val], perm[n_val:]
    return x[train], y[train], x[val], y[val]


def _make(name: str, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
          test: tuple[np.ndarray, np.ndarray] | None, num_classes: int, crop_padding: int,
          flip: bool) -> ImageDataset:
    t = [torch.from_numpy(np.ascontiguousarray(a)) for a in (*train, *val)]
    tx, ty = (None, None) if test is None else (
        torch.from_numpy(np.ascontiguousarray(test[0])),
        torch.from_numpy(np.ascontiguousarray(test[1]).astype(np.int64)))
    mean, std = _stats(t[0])
    return ImageDataset(name, t[0], t[1].long(), t[2], t[3].long(), tx, ty, num_classes,
                        mean, std, crop_padding, flip)


def _check_val(val_size: int | float, n: int) -> int:
    if isinstance(val_size, float) and 0.0 < val_size < 1.0:
        k = round(val_size * n)
    elif isinstance(val_size, int) and not isinstance(val_size, bool) and 0 < val_size < n:
        k = val_size
    else:
        raise ValueError(
            f"val_size: expected a fraction in (0, 1) or a count in [1, {n}), got {val_size!r}"
        )
    return max(1, min(k, n - 1))


def load_digits_dataset(val_size: int | float = 0.2, test_size: float = 0.2,
                        split_seed: int = 0) -> ImageDataset:
    """scikit-learn's bundled 8×8 digits (1,797 images, 10 classes), no download.

    ``test_size`` of the images are held out as a test split, then ``val_size`` of the
    rest (a fraction of the rest, or a count) as validation. Augmentation: random crops
    with 1-pixel padding; no flips (they change a digit's meaning).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # scikit-learn is the 'train' extra
        raise DatasetError(
            "the digits dataset needs scikit-learn (pip install 'bo-nas[train]')"
        ) from exc
    bunch = load_digits()
    x = (bunch.images.astype(np.uint8) * 15)[:, None, :, :]  # 0..16 → 0..240, lossless
    y = bunch.target.astype(np.int64)
    n_test = _check_val(test_size, len(x))
    perm = np.random.default_rng(split_seed).permutation(len(x))
    test, rest = perm[:n_test], perm[n_test:]
    n_val = _check_val(val_size, len(rest))
    tr_x, tr_y, va_x, va_y = _split(x[rest], y[rest], n_val, split_seed + 1)
    return _make("digits", (tr_x, tr_y), (va_x, va_y), (x[test], y[test]), 10, 1, False)


def _cifar_folder(name: str, data_dir: str | os.PathLike[str] | None) -> Path:
    sub, train_files, test_file, _, _ = _CIFAR[name]
    expected = (f"the python-pickle batches of {name} ({', '.join(train_files)}, {test_file}), "
                f"as extracted from the official archive into '{sub}/'")
    if data_dir is None:
        raise DatasetNotFoundError(f"dataset {name!r} needs data_dir: a folder holding {expected}")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"{name} folder {str(root)!r} does not exist; expected "
                                   f"{expected}")
    for folder in (root, root / sub):
        if all((folder / f).is_file() for f in [*train_files, test_file]):
            return folder
    folder = root / sub if (root / sub).is_dir() else root
    missing = [f for f in [*train_files, test_file] if not (folder / f).is_file()]
    raise DatasetNotFoundError(
        f"{name} folder {str(folder)!r} lacks {missing}; expected {expected}"
    )


def _read_batch(path: Path, label_key: bytes, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise DatasetFormatError(f"{path}: not a CIFAR python-pickle batch ({exc})") from None
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise DatasetFormatError(
            f"{path}: expected a dict with keys b'data' and {label_key!r}, got {keys}"
        )
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[label_key])
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise DatasetFormatError(
            f"{path}: b'data' must be an N x 3072 uint8 array, got {data.shape} {data.dtype}"
        )
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu":
        raise DatasetFormatError(
            f"{path}: {label_key!r} must hold {len(data)} integer labels, got shape {labels.shape}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetFormatError(f"{path}: labels must lie in [0, {num_classes})")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar_dataset(name: str, data_dir: str | os.PathLike[str] | None,
                       val_size: int | float = 5000, split_seed: int = 0) -> ImageDataset:
    """CIFAR-10 or CIFAR-100 from its python-pickle batches.

    The official test batch is the test split; ``val_size`` training images (a count or
    a fraction) are held out as validation. Augmentation: random crop with 4-pixel
    padding and horizontal flips.

    Raises:
        DatasetNotFoundError: naming the folder and the files expected there.
        DatasetFormatError: for a file that is not a CIFAR batch.
    """
    if name not in _CIFAR:
        raise ValueError(f"name: expected 'cifar10' or 'cifar100', got {name!r}")
    folder = _cifar_folder(name, data_dir)
    _, train_files, test_file, key, classes = _CIFAR[name]
    parts = [_read_batch(folder / f, key, classes) for f in train_files]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    test = _read_batch(folder / test_file, key, classes)
    n_val = _check_val(val_size, len(x))
    tr_x, tr_y, va_x, va_y = _split(x, y, n_val, split_seed)
    return _make(name, (tr_x, tr_y), (va_x, va_y), test, classes, 4, True)


def synthetic_dataset(n: int = 1024, image_shape: tuple[int, int, int] = (3, 32, 32),
                      num_classes: int = 10, seed: int = 0) -> ImageDataset:
    """Random images with random labels (for throughput measurements only)."""
    gen = np.random.default_rng(seed)
    x = gen.integers(0, 256, size=(n, *image_shape), dtype=np.uint8)
    y = gen.integers(0, num_classes, size=n)
    n_val = max(1, n // 10)
    return _make("synthetic", (x[n_val:], y[n_val:]), (x[:n_val], y[:n_val]), None,
                 num_classes, 4, True)


def load_dataset(name: str = "digits", data_dir: str | os.PathLike[str] | None = None,
                 *, val_size: int | float | None = None, split_seed: int = 0) -> ImageDataset:
    """A dataset by name, cached per process (treat the tensors as read-only).

    Args:
        name: ``"digits"`` (offline default), ``"cifar10"`` or ``"cifar100"``.
        data_dir: Folder of the CIFAR batches (ignored for digits).
        val_size: Validation images held out of train (count or fraction); 20 % for
            digits and 5,000 for CIFAR when omitted.
        split_seed: Seed of the fixed train/validation permutation.

    Raises:
        ValueError: for an unknown name.
        DatasetNotFoundError, DatasetFormatError: for a missing or malformed folder.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset: expected one of {DATASETS}, got {name!r}")
    if name == "digits":
        return _load_cached(name, None, 0, 0, val_size, split_seed)
    folder = _cifar_folder(name, data_dir)
    sig = max(p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file())
    return _load_cached(name, str(folder.resolve()), sig, 0, val_size, split_seed)


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, folder: str | None, mtime: int, _: int,
                 val_size: int | float | None, split_seed: int) -> ImageDataset:
    if name == "digits":
        return load_digits_dataset(0.2 if val_size is None else val_size, split_seed=split_seed)
    return load_cifar_dataset(name, folder, 5000 if val_size is None else val_size, split_seed)
