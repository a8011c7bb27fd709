"""Training architectures as PyTorch networks."""
