"""`TreeWassersteinKernel`: GPyTorch's kernel contract, the formula, PSD on real cells."""

from __future__ import annotations

import itertools
import unittest

import numpy as np
import pytest
import torch
from gpytorch.kernels import ScaleKernel
from gpytorch.test.base_kernel_test_case import BaseKernelTestCase

from bo_nas.encodings import OpTree
from bo_nas.kernels import TreeWassersteinKernel
from bo_nas.spaces import CellSpace, NB101Space, NB201Space


class _TWKernelCase(BaseKernelTestCase):
    """GPyTorch's shared kernel tests. Their inputs have 2 features (batched cases) or
    pick 4 or 6 of 10 by ``active_dims``: one block covers them ("no ARD"), and two
    one-feature blocks play the ARD case."""

    seed = 0

    def create_kernel_no_ard(self, **kwargs) -> TreeWassersteinKernel:
        dims = kwargs.get("active_dims")
        return TreeWassersteinKernel(block_sizes=(len(dims) if dims is not None else 2,),
                                     **kwargs)

    def create_kernel_ard(self, num_dims: int, **kwargs) -> TreeWassersteinKernel:
        return TreeWassersteinKernel(block_sizes=(1,) * num_dims, **kwargs)

    # The base versions compare against a kernel built without active_dims, whose width
    # must equal the selection's here (the block layout fixes the input width).
    def test_active_dims_list(self) -> None:
        x = self.create_data_no_batch()
        k = self.create_kernel_no_ard(active_dims=[0, 2, 4, 6])
        ref = TreeWassersteinKernel(block_sizes=(4,))(x[:, [0, 2, 4, 6]])
        self.assertAllClose(k(x).to_dense(), ref.to_dense(), rtol=1e-5, atol=1e-6)

    def test_active_dims_range(self) -> None:
        x = self.create_data_no_batch()
        k = self.create_kernel_no_ard(active_dims=list(range(3, 9)))
        ref = TreeWassersteinKernel(block_sizes=(6,))(x[:, 3:9])
        self.assertAllClose(k(x).to_dense(), ref.to_dense(), rtol=1e-5, atol=1e-6)


class TestTWKernelFloat32(_TWKernelCase, unittest.TestCase):
    pass


class TestTWKernelFloat64(_TWKernelCase, unittest.TestCase):
    def setUp(self) -> None:
        self._dtype = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        torch.set_default_dtype(self._dtype)


def reference(x1: np.ndarray, x2: np.ndarray, sizes: tuple[int, ...], ls: np.ndarray) -> np.ndarray:
    """exp(-Σ_b ‖x_b − x'_b‖₁ / ℓ_b) by explicit loops over pairs and blocks."""
    cuts = np.cumsum((0, *sizes))
    out = np.empty((len(x1), len(x2)))
    for i in range(len(x1)):
        for j in range(len(x2)):
            s = sum(np.abs(x1[i, a:b] - x2[j, a:b]).sum() / ls[k]
                    for k, (a, b) in enumerate(itertools.pairwise(cuts)))
            out[i, j] = np.exp(-s)
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_the_formula_on_nb201_features(dtype: torch.dtype) -> None:
    space = NB201Space()
    enc = space.encoder()
    rng = np.random.default_rng(0)
    x1 = enc.encode(space.sample_many(12, rng))
    x2 = enc.encode(space.sample_many(7, rng))
    k = TreeWassersteinKernel(enc.block_sizes).to(dtype)
    ls = np.array([0.3, 1.7, 0.05])
    k.lengthscale = torch.tensor(ls, dtype=dtype)
    assert k.lengthscale.shape == (1, 3) and k.lengthscale.dtype == dtype
    t1, t2 = torch.as_tensor(x1, dtype=dtype), torch.as_tensor(x2, dtype=dtype)
    got = k(t1, t2).to_dense()
    assert got.dtype == dtype and got.shape == (12, 7)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    np.testing.assert_allclose(got.detach().numpy(), reference(x1, x2, enc.block_sizes, ls),
                               rtol=tol, atol=tol)
    diag = k(t1, t1.flip(0), diag=True)
    np.testing.assert_allclose(diag.detach().numpy(),
                               np.diag(reference(x1, x1[::-1], enc.block_sizes, ls)),
                               rtol=tol, atol=tol)
    assert torch.equal(k(t1, diag=True), torch.ones(12, dtype=dtype))


def test_gradients_reach_every_lengthscale() -> None:
    enc = NB201Space().encoder()
    x = torch.as_tensor(enc.encode(NB201Space().sample_many(20, 1)))
    k = ScaleKernel(TreeWassersteinKernel(enc.block_sizes)).double()
    k(x).to_dense().sum().backward()
    grad = k.base_kernel.raw_lengthscale.grad
    assert grad is not None and grad.shape == (1, 3) and (grad != 0).all()


def test_batched_lengthscales() -> None:
    k = TreeWassersteinKernel((2, 3), batch_shape=torch.Size([4])).double()
    assert k.lengthscale.shape == (4, 1, 2)
    x = torch.rand(4, 6, 5, dtype=torch.float64)
    out = k(x).to_dense()
    assert out.shape == (4, 6, 6)
    for b in range(4):
        single = TreeWassersteinKernel((2, 3)).double()
        single.lengthscale = k.lengthscale[b].detach()
        torch.testing.assert_close(out[b], single(x[b]).to_dense())


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: TreeWassersteinKernel(()), "block_sizes"),
        (lambda: TreeWassersteinKernel((3, 0)), "block_sizes"),
        (lambda: TreeWassersteinKernel((3,), ard_num_dims=3), "ard_num_dims"),
        (lambda: TreeWassersteinKernel((2, 3))(torch.rand(4, 6)).to_dense(), "last dimension 5"),
    ],
)
def test_bad_arguments_raise_value_error(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def _min_eig_ok(x: np.ndarray, sizes: tuple[int, ...], rng: np.random.Generator) -> None:
    n = len(x)
    t = torch.as_tensor(x, dtype=torch.float64)
    for _ in range(3):
        k = TreeWassersteinKernel(sizes).double()
        k.lengthscale = torch.as_tensor(10 ** rng.uniform(-2, 1, size=len(sizes)))
        with torch.no_grad():
            eig = torch.linalg.eigvalsh(k(t).to_dense())
        assert eig.min().item() >= -1e-8 * n, eig.min().item()


USER = CellSpace(
    ["c3", "c5", "mp", "id"], n_nodes=6, max_edges=8,
    op_tree=OpTree.from_groups({"conv": ["c3", "c5"], "pool": ["mp"], "id": ["id"]}),
)


@pytest.mark.parametrize(
    ("space", "variants"),
    [
        (NB201Space(), [{}, {"positions": False, "ngrams": True}]),
        (NB101Space(), [{}, {"positions": True}]),
        (USER, [{"ngrams": True}, {"positions": True}]),
    ],
    ids=["nb201", "nb101", "user"],
)
def test_kernel_matrices_on_real_cells_are_psd(space, variants: list[dict]) -> None:
    rng = np.random.default_rng(5)
    archs = space.sample_many(120, rng)
    for kwargs in variants:
        enc = space.encoder(**kwargs)
        # Repeat some cells: duplicates make the matrix singular, not indefinite.
        x = enc.encode(archs + archs[:10])
        _min_eig_ok(x, enc.block_sizes, rng)
