"""Diffusion math as pure JAX functions: noise schedules, samplers and training losses."""
