r"""Zero-cost measures: scores of a freshly initialised network, computed without training.

Every function takes an initialised ``torch.nn.Module`` (and, for the data-based ones, a
minibatch on the model's device) and returns a Python float, larger meaning "predicted
better". The model is left as it was: parameters, buffers (BatchNorm running
statistics) and its train/eval flag are restored, and parameter ``.grad`` fields are not
touched. No function draws random numbers.

BatchNorm modes, chosen per measure and stated in each docstring:

- `naswot`, `jacov`: training mode (BatchNorm normalises by the minibatch's statistics,
  as at the first training step), as in Mellor et al.;
- `synflow`: evaluation mode with the freshly initialised running statistics (mean 0,
  variance 1), i.e. BatchNorm is (almost exactly) the identity. This reproduces the
  published NAS-Bench-201 SynFlow table (Spearman ≈ 0.9996 on 200 cells); training
  mode on the single all-ones example does not (≈ 0.17);
- `grad_kernel`: training mode by default (``batchnorm="batch"``). Evaluation mode
  (``"running"``: examples independent, the textbook per-example gradient) is an
  option, but on 40 NAS-Bench-201 cells (synthetic minibatch of 16) it anti-correlates
  with CIFAR-10 accuracy (Spearman ≈ -0.64, against +0.67 in training mode).

References:
    J. Mellor, J. Turner, A. Storkey, E. J. Crowley. Neural Architecture Search without
    Training. ICML 2021 (v1 of the preprint: the Jacobian covariance score).
    H. Tanaka, D. Kunin, D. L. K. Yamins, S. Ganguli. Pruning neural networks without
    any data by iteratively conserving synaptic flow. NeurIPS 2020.
    M. S. Abdelfattah, A. Mehrotra, Ł. Dudziak, N. D. Lane. Zero-Cost Proxies for
    Lightweight NAS. ICLR 2021.
    J. Xu et al. KNAS: Green Neural Architecture Search. ICML 2021.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

#: ``k`` of the Jacobian covariance score.
JACOV_K = 1e-5

GradMethod = Literal["mean", "vmap", "loop"]
BatchNormMode = Literal["batch", "running"]


@contextmanager
def _restored(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """Run ``model`` in the given mode; restore its flags and buffers afterwards."""
    flags = [(m, m.training) for m in model.modules()]
    saved = [(b, b.detach().clone()) for b in model.buffers()]
    model.train(training)
    try:
        yield model
    finally:
        with torch.no_grad():
            for b, value in saved:
                b.copy_(value)
        for m, flag in flags:
            m.training = flag


def _check_images(images: torch.Tensor, minimum: int = 1) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images: expected an N x C x H x W tensor, got {shape}")
    if len(images) < minimum:
        raise ValueError(f"images: expected at least {minimum} images, got {len(images)}")
    if not images.is_floating_point():
        raise ValueError(f"images: expected a floating-point tensor, got {images.dtype}")


def _check_labels(labels: torch.Tensor, n: int) -> None:
    if not isinstance(labels, torch.Tensor) or labels.shape != (n,):
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels: expected a tensor of shape ({n},), got {shape}")
    if labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise ValueError(f"labels: expected an integer tensor, got {labels.dtype}")


def relu_code_kernel(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    r"""NASWOT's kernel :math:`K_H` of a minibatch (float64, `N x N`).

    Every ``nn.ReLU`` module of the model contributes the binary code
    :math:`c_i \in \{0, 1\}^{n}` of the signs of its input for example :math:`i`
    (:math:`c = 1` where the input is positive). With all codes concatenated,
    :math:`(K_H)_{ij} = N_A - d_H(c_i, c_j)`, i.e.
    :math:`K_H = c c^\top + (1 - c)(1 - c)^\top`, accumulated ReLU by ReLU as
    :math:`\tfrac12 (s s^\top + n)` with :math:`s = 2c - 1`, exactly (integer counts).
    The forward pass runs in training mode (BatchNorm on batch statistics).

    Raises:
        ValueError: for a malformed minibatch, or a model without ``nn.ReLU`` modules.
    """
    _check_images(images)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ValueError("model: NASWOT needs nn.ReLU modules; this model has none")
    n = len(images)
    kernel = torch.zeros(n, n, dtype=torch.float64, device=images.device)

    def hook(_: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        x = inputs[0].detach().reshape(n, -1)
        units = x.shape[1]
        # ±1 products summed over < 2**24 units are exact integers in float32.
        dtype = torch.float32 if units < 2**24 else torch.float64
        s = (x > 0).to(dtype) * 2 - 1
        kernel.add_((s @ s.T).to(torch.float64).add_(units).mul_(0.5))

    handles = [m.register_forward_pre_hook(hook) for m in relus]
    try:
        with _restored(model, training=True), torch.no_grad():
            model(images)
    finally:
        for h in handles:
            h.remove()
    return kernel


def naswot(model: nn.Module, images: torch.Tensor) -> float:
    r"""NASWOT score: :math:`\log |\det K_H|` of the ReLU-code kernel.

    :math:`K_H` is `relu_code_kernel` (:math:`N_A` minus the Hamming distance between the
    concatenated ReLU sign codes of two examples). The score does not depend on the order
    of the minibatch. Two examples with the same code (a repeated image, or a network
    that cannot tell them apart) make :math:`K_H` singular: the score is then ``-inf``
    (also whenever the determinant is exactly zero).

    Args:
        model: An initialised network with ``nn.ReLU`` modules.
        images: `N x C x H x W` float minibatch, N ≥ 1.
    """
    kernel = relu_code_kernel(model, images)
    units = kernel.diagonal()
    off = kernel - torch.diag(units)
    # K_ij == N_A exactly ⇔ codes i and j are equal (diagonal entries are all N_A).
    if len(kernel) > 1 and bool((off == units[0]).any()):
        return -math.inf
    sign, logabsdet = torch.linalg.slogdet(kernel)
    if float(sign) == 0.0:
        return -math.inf
    return float(logabsdet)


def synflow(model: nn.Module, input_shape: Sequence[int]) -> float:
    r"""Data-free SynFlow score, as a log: :math:`\log S`.

    In float64, every parameter :math:`\theta` is replaced by :math:`|\theta|`, an
    all-ones input :math:`\mathbb 1` of shape ``1 x input_shape`` goes through the
    network in evaluation mode (BatchNorm with its initial running statistics, i.e.
    :math:`y = \gamma x / \sqrt{1 + \epsilon} + \beta`), and with
    :math:`R = \mathbb 1^\top f(\mathbb 1)`,

    .. math::
        S = \sum_{\theta \in \text{conv, linear weights}}
            \left| \theta \odot \frac{\partial R}{\partial \theta} \right|.

    Only the weights of ``nn.Conv2d`` and ``nn.Linear`` modules (the prunable
    parameters) are summed, as in Abdelfattah et al.; BatchNorm affine parameters and
    biases are not. :math:`S` spans tens of orders of magnitude across a space (about
    :math:`10^{6}` to :math:`10^{50}` on NAS-Bench-201), so its log is returned: the
    ranking is unchanged, and it equals the ``synflow`` column of the NAS-Bench-201
    zero-cost table. ``-inf`` when :math:`S = 0` (no weight reaches the output); NaN when
    float64 overflows.

    The model itself is not modified (a float64 copy of its parameters and buffers is
    used through `torch.func.functional_call`).

    Args:
        model: An initialised network.
        input_shape: Shape of one input, ``(C, H, W)`` for an image network.
    """
    shape = tuple(int(s) for s in input_shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"input_shape: expected positive sizes such as (C, H, W), got "
                         f"{input_shape!r}")
    params = dict(model.named_parameters())
    if not params:
        raise ValueError("model: has no parameters")
    device = next(iter(params.values())).device
    weights = {id(m.weight) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight is not None}
    abs_params = {k: p.detach().to(torch.float64).abs().requires_grad_(id(p) in weights)
                  for k, p in params.items()}
    buffers = {k: (b.detach().to(torch.float64) if b.is_floating_point() else b.detach())
               for k, b in model.named_buffers()}
    ones = torch.ones((1, *shape), dtype=torch.float64, device=device)
    with _restored(model, training=False):
        out = torch.func.functional_call(model, (abs_params, buffers), (ones,))
        total = out.sum()
        trainable = [p for p in abs_params.values() if p.requires_grad]
        if not trainable or not total.requires_grad:
            return -math.inf
        grads = torch.autograd.grad(total, trainable, allow_unused=True)
    score = sum(float((p.detach() * g).abs().sum()) for p, g in zip(trainable, grads)
                if g is not None)
    if not math.isfinite(score):
        return math.nan
    return math.log(score) if score > 0 else -math.inf


def input_jacobians(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    r"""`N x (C·H·W)`: :math:`\partial (\sum f(x)) / \partial x_i`, flattened, per image.

    One backward pass of the summed output of the whole minibatch, in training mode (as
    in Mellor et al.; BatchNorm couples the examples through the batch statistics).
    """
    _check_images(images)
    x = images.detach().clone().requires_grad_(True)
    with _restored(model, training=True):
        out = model(x)
        (grad,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
    if grad is None:
        return torch.zeros(len(x), x[0].numel(), dtype=x.dtype, device=x.device)
    return grad.reshape(len(x), -1)


def jacov(model: nn.Module, images: torch.Tensor, k: float = JACOV_K) -> float:
    r"""Jacobian covariance score (Mellor et al., v1).

    With :math:`J_i` the flattened `input_jacobians` of image :math:`i`,
    :math:`\Sigma` the :math:`N \times N` correlation matrix of the :math:`J_i` and
    :math:`v` its eigenvalues,

    .. math::
        \mathrm{score} = -\sum_j \left( \log(v_j + k) + \frac{1}{v_j + k} \right),
        \quad k = 10^{-5}.

    Larger when the Jacobians of different images are less correlated. ``-inf`` when
    the correlation is undefined: some image's Jacobian is constant (e.g. a network
    whose output does not depend on its input).

    Args:
        model: An initialised network.
        images: `N x C x H x W` float minibatch, N ≥ 2.
    """
    _check_images(images, minimum=2)
    jac = input_jacobians(model, images).to(torch.float64)
    centred = jac - jac.mean(dim=1, keepdim=True)
    norms = centred.norm(dim=1)
    if not bool(torch.isfinite(jac).all()):
        return math.nan
    if bool((norms == 0).any()):
        return -math.inf
    unit = centred / norms[:, None]
    corr = unit @ unit.T
    v = torch.linalg.eigvalsh(corr).clamp_min(0.0)
    return float(-(torch.log(v + k) + 1.0 / (v + k)).sum())


def _loss_of_one(
    model: nn.Module, buffers: dict[str, torch.Tensor]
) -> Callable[[dict[str, torch.Tensor], torch.Tensor, torch.Tensor], torch.Tensor]:
    def loss(params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(model, (params, buffers), (x[None],))
        return F.cross_entropy(out, y[None])

    return loss


def _batch_losses(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor
) -> Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], torch.Tensor]:
    # The buffers are an argument, not captured: training-mode BatchNorm updates them.
    def losses(params: dict[str, torch.Tensor],
               buffers: dict[str, torch.Tensor]) -> torch.Tensor:
        out = torch.func.functional_call(model, (params, buffers), (images,))
        return F.cross_entropy(out, labels, reduction="none")

    return losses


def per_example_gradients(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batchnorm: BatchNormMode = "batch",
    method: Literal["vmap", "loop"] = "vmap",
    chunk_size: int | None = None,
) -> torch.Tensor:
    r"""`N x P`: gradient :math:`g_i` of each example's cross-entropy loss w.r.t. all P
    trainable parameters.

    ``batchnorm="batch"`` (training mode): :math:`g_i = \nabla_\theta \ell_i`, with
    :math:`\ell_i` example :math:`i`'s loss term in one forward pass of the whole
    minibatch, BatchNorm normalising by its statistics as in a training step (so
    :math:`g_i` also depends on the other examples through them). ``"vmap"`` computes the
    N gradients as the Jacobian of the loss vector, ``torch.func.jacrev`` (N backward
    passes batched by vmap over the cotangents, ``chunk_size`` at a time); ``"loop"``
    runs N backward passes through the same graph.

    ``batchnorm="running"`` (evaluation mode, BatchNorm on its running statistics):
    examples do not interact, :math:`g_i` is the gradient of a forward pass of example
    :math:`i` alone. ``"vmap"`` batches ``grad(functional_call)`` over the examples;
    ``"loop"`` runs N forward and backward passes.
    """
    _check_images(images)
    _check_labels(labels, len(images))
    if batchnorm not in ("batch", "running"):
        raise ValueError(f"batchnorm: expected 'batch' or 'running', got {batchnorm!r}")
    if method not in ("vmap", "loop"):
        raise ValueError(f"method: expected 'vmap' or 'loop', got {method!r}")
    named = [(k, p) for k, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("model: has no trainable parameters")
    names, params_list = [k for k, _ in named], [p for _, p in named]
    labels = labels.long()
    n = len(images)
    with _restored(model, training=batchnorm == "batch"):
        if method == "vmap":
            params = {k: p.detach() for k, p in named}
            buffers = {k: b.detach().clone() for k, b in model.named_buffers()}
            if batchnorm == "batch":
                jac = torch.func.jacrev(_batch_losses(model, images, labels),
                                        chunk_size=chunk_size)(params, buffers)
            else:
                jac = torch.func.vmap(torch.func.grad(_loss_of_one(model, buffers)),
                                      in_dims=(None, 0, 0), chunk_size=chunk_size)(
                    params, images, labels)
            return torch.cat([jac[k].reshape(n, -1) for k in names], dim=1)
        if batchnorm == "batch":
            losses = F.cross_entropy(model(images), labels, reduction="none")
            terms = [losses[i] for i in range(n)]
        else:
            terms = [F.cross_entropy(model(x[None]), y[None]) for x, y in zip(images, labels)]
        rows = []
        for i, term in enumerate(terms):
            gs = torch.autograd.grad(term, params_list, allow_unused=True,
                                     retain_graph=batchnorm == "batch" and i < n - 1)
            rows.append(torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                                   for p, g in zip(params_list, gs)]))
        return torch.stack(rows)


def gradient_gram(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batchnorm: BatchNormMode = "batch",
    method: Literal["vmap", "loop"] = "vmap",
    chunk_size: int | None = None,
) -> torch.Tensor:
    r"""`N x N` Gram matrix :math:`G_{ij} = \langle g_i, g_j \rangle` (float64) of the
    `per_example_gradients` (same arguments)."""
    g = per_example_gradients(model, images, labels, batchnorm=batchnorm, method=method,
                              chunk_size=chunk_size).to(torch.float64)
    return g @ g.T


def grad_kernel(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batchnorm: BatchNormMode = "batch",
    method: GradMethod = "mean",
) -> float:
    r"""Gradient-kernel score in the spirit of KNAS: the mean of the gradient Gram matrix.

    With :math:`g_i = \nabla_\theta \ell_i` the per-example cross-entropy gradients at
    initialisation (`per_example_gradients`) and :math:`G_{ij} = \langle g_i, g_j\rangle`,

    .. math::
        \mathrm{score} = \frac{1}{N^2} \sum_{i,j} G_{ij}
        = \Big\| \nabla_\theta \frac1N \sum_i \ell_i \Big\|^2 .

    The identity on the right is exact (in both BatchNorm modes), so the default
    ``method="mean"`` computes it with one backward pass of the mean loss; ``"vmap"``
    and ``"loop"`` build :math:`G` from the per-example gradients (`gradient_gram`) and
    give the same number up to rounding, several times slower (one CPU thread, NB-201
    network C=16 N=5, 16 images: mean 0.66 s, loop 2.5 s, vmap 5.1 s; on a tiny network
    vmap beats the loop; ``benchmarks/bench_zero_cost.py`` prints these timings).

    ``batchnorm="batch"`` (the default: training mode, BatchNorm on the minibatch's
    statistics) is what agrees with accuracy: on NAS-Bench-201 it correlates positively
    with the published ``grad_norm`` and with CIFAR-10 accuracy, while ``"running"``
    (evaluation mode, BatchNorm the identity at initialisation, independent examples)
    ranks the other way round (deep conv cells shrink the signal without
    normalisation).

    Args:
        model: An initialised network.
        images: `N x C x H x W` float minibatch.
        labels: `N` integer class labels.
        batchnorm: ``"batch"`` or ``"running"``.
        method: ``"mean"``, ``"vmap"`` or ``"loop"``.
    """
    if method in ("vmap", "loop"):
        return float(gradient_gram(model, images, labels, batchnorm=batchnorm,
                                   method=method).mean())
    if method != "mean":
        raise ValueError(f"method: expected 'mean', 'vmap' or 'loop', got {method!r}")
    if batchnorm not in ("batch", "running"):
        raise ValueError(f"batchnorm: expected 'batch' or 'running', got {batchnorm!r}")
    _check_images(images)
    _check_labels(labels, len(images))
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model: has no trainable parameters")
    with _restored(model, training=batchnorm == "batch"):
        loss = F.cross_entropy(model(images), labels.long())
        grads = torch.autograd.grad(loss, params, allow_unused=True)
    return float(sum((g.to(torch.float64) ** 2).sum() for g in grads if g is not None))
