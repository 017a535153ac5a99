"""Kernels on a Jupyter Kernel Gateway or Enterprise Gateway."""
