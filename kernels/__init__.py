"""GPyTorch kernels on architecture feature vectors."""

from ._tree_wasserstein import TreeWassersteinKernel
from ._wl import WLKernel

__all__ = ["TreeWassersteinKernel", "WLKernel"]
