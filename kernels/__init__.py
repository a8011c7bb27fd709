"""GPyTorch kernels on architecture feature vectors."""

from ._tree_wasserstein import TreeWassersteinKernel

__all__ = ["TreeWassersteinKernel"]
