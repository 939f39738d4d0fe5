"""Pure-PyTorch twins of the Triton kernels: the same layouts, the same arithmetic.

Each function here is the specification of the kernel of the same name in
:mod:`.kernels` (tests run both and compare). Layouts are described there:
spectra ``(2, K, R)`` (real plane, imaginary plane), tables ``t1 (2, A, N1)``
and ``t2 (2, N2, U)`` holding scaled cos and sin, ``pos (A, U)`` the mode at a
box position or ``-1``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["analysis", "mix_dense", "mix_diagonal", "synthesis", "weight_grad_dense", "weight_grad_diagonal"]


def _box_to_modes(box_re: Tensor, box_im: Tensor, pos: Tensor, n_modes: int) -> Tensor:
    """(R, A, U) box planes -> (2, K, R) at the modes (zero for modes without a position)."""
    rows = box_re.shape[0]
    out = box_re.new_zeros(2, n_modes, rows)
    flat = pos.reshape(-1).long()
    has = flat >= 0
    out[0, flat[has]] = box_re.reshape(rows, -1)[:, has].t()
    out[1, flat[has]] = box_im.reshape(rows, -1)[:, has].t()
    return out


def _modes_to_box(spec: Tensor, pos: Tensor) -> tuple[Tensor, Tensor]:
    """(2, K, R) -> (R, A, U) box planes, zero where no mode sits."""
    rows = spec.shape[2]
    flat = pos.reshape(-1).long()
    has = flat >= 0
    re = spec.new_zeros(rows, flat.numel())
    im = spec.new_zeros(rows, flat.numel())
    re[:, has] = spec[0, flat[has]].t()
    im[:, has] = spec[1, flat[has]].t()
    return re.reshape(rows, *pos.shape), im.reshape(rows, *pos.shape)


def analysis(x: Tensor, t1: Tensor, t2: Tensor, pos: Tensor, n_modes: int) -> Tensor:
    """x (R, N1, N2) -> (2, K, R): ``sum_n x(n) (c1 - i s1)(c2 - i s2)`` at each mode's box position."""
    x = x.to(t2.dtype)
    t_re = x @ t2[0]  # (R, N1, U)
    t_im = -(x @ t2[1])
    box_re = t1[0] @ t_re + t1[1] @ t_im  # (R, A, U)
    box_im = t1[0] @ t_im - t1[1] @ t_re
    return _box_to_modes(box_re, box_im, pos, n_modes)


def synthesis(spec: Tensor, t1: Tensor, t2: Tensor, pos: Tensor, bias: Tensor | None, out_channels: int) -> Tensor:
    """(2, K, R) -> y (R, N1, N2) = ``bias[r % O] + Re sum_(a,u) Y(a,u) (c1 + i s1)(c2 + i s2)``."""
    y_re, y_im = _modes_to_box(spec, pos)  # (R, A, U)
    c1, s1 = t1[0].t(), t1[1].t()  # (N1, A)
    z_re = c1 @ y_re - s1 @ y_im  # (R, N1, U)
    z_im = c1 @ y_im + s1 @ y_re
    y = z_re @ t2[0].t() - z_im @ t2[1].t()  # (R, N1, N2)
    if bias is not None:
        rows = y.shape[0]
        y = y + bias.to(y.dtype).repeat(rows // out_channels)[:, None, None]
    return y


def mix_dense(spec: Tensor, w: Tensor, ck: Tensor, adjoint: bool = False) -> Tensor:
    """Planes (2, K, B, C) -> (2, K, B, O): ``ck * X @ W`` per mode, or ``ck * G @ W^H`` (adjoint).

    ``w`` is the complex weight as real pairs, shape (K, C, O, 2).
    """
    wc = torch.view_as_complex(w.contiguous())
    if adjoint:
        wc = wc.conj().transpose(1, 2)
    z = torch.complex(spec[0], spec[1])  # (K, B, I)
    out = torch.bmm(z, wc) * ck[:, None, None]
    return torch.stack([out.real, out.imag])


def mix_diagonal(spec: Tensor, w: Tensor, ck: Tensor, adjoint: bool = False) -> Tensor:
    """Planes (2, K, B, C) -> (2, K, B, C): ``ck * X * W`` (or ``conj W``); ``w`` is (K, C, 2)."""
    wc = torch.view_as_complex(w.contiguous())
    if adjoint:
        wc = wc.conj()
    out = torch.complex(spec[0], spec[1]) * wc[:, None, :] * ck[:, None, None]
    return torch.stack([out.real, out.imag])


def weight_grad_dense(x_spec: Tensor, g_spec: Tensor, ck: Tensor) -> Tensor:
    """``ck * X^H G`` per mode: (2, K, B, C), (2, K, B, O) -> (K, C, O, 2)."""
    x = torch.complex(x_spec[0], x_spec[1])
    g = torch.complex(g_spec[0], g_spec[1])
    out = torch.bmm(x.conj().transpose(1, 2), g) * ck[:, None, None]
    return torch.view_as_real(out)


def weight_grad_diagonal(x_spec: Tensor, g_spec: Tensor, ck: Tensor) -> Tensor:
    """``ck * sum_b conj(X) G`` per mode and channel: (2, K, B, C) twice -> (K, C, 2)."""
    x = torch.complex(x_spec[0], x_spec[1])
    g = torch.complex(g_spec[0], g_spec[1])
    out = (x.conj() * g).sum(1) * ck[:, None]
    return torch.view_as_real(out)
