"""Radial and angular bases of the dipole GNN (lengths in Å, all functions smooth and twice differentiable)."""

from __future__ import annotations

import math

import torch


def polynomial_envelope(r: torch.Tensor, cutoff: float, p: int = 6) -> torch.Tensor:
    """Smooth cutoff ``u(r)``: 1 at r = 0, 0 for r ≥ cutoff, with vanishing first and second derivatives there.

    ``u(x) = 1 − (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) − p(p+1)/2 x^(p+2)`` with ``x = r / cutoff``
    (the envelope of DimeNet and NequIP).
    """
    x = r / cutoff
    xp = x**p
    u = 1.0 - 0.5 * (p + 1) * (p + 2) * xp + p * (p + 2) * xp * x - 0.5 * p * (p + 1) * xp * x * x
    return torch.where(x < 1.0, u, torch.zeros_like(u))


def bessel_basis(r: torch.Tensor, cutoff: float, n: int) -> torch.Tensor:
    """Radial Bessel functions ``sin(n π r / c) / (r / c)``, n = 1 … ``n`` (shape (..., n), dimensionless).

    The zeroth spherical Bessel functions of DimeNet, scaled to values of order one over the usual bond
    lengths so that the geometry is not drowned by the species embeddings at initialisation.
    """
    frequencies = torch.arange(1, n + 1, dtype=r.dtype, device=r.device) * (math.pi / cutoff)
    r = r.unsqueeze(-1)
    return cutoff * torch.sin(frequencies * r) / r


def cosine_powers(x: torch.Tensor, n: int) -> torch.Tensor:
    """Powers ``x^0 … x^(n-1)`` (shape (..., n)): the angular basis ``cos^m θ`` of the triplets."""
    values = [torch.ones_like(x)]
    for _ in range(1, n):
        values.append(values[-1] * x)
    return torch.stack(values, dim=-1)
