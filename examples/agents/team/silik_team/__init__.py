"""A team of agent kernels: a lead that delegates to an analyst and a reviewer."""
