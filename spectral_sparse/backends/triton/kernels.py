"""Triton kernels of the ``triton`` backend (real and imaginary planes kept apart).

This module imports triton. It is never imported by ``import spectral_sparse``:
:func:`spectral_sparse.backends.triton.launch.load_kernels` executes it on first
use, once per mode (compiled for CUDA, or under Triton's interpreter for CPU
tensors), because ``@triton.jit`` fixes the mode when it runs.

Layouts (all contiguous):

* ``x``: ``(R, N1, N2)`` rows ``R = B*C`` (``N1 = 1`` for 1-D);
* spectra at the modes: ``(2, K, R)`` (real plane, then imaginary plane);
* axis tables: ``t1`` = ``(2, A, N1)`` (cos and sin of the first axis at its
  distinct frequencies ``A``), ``t2`` = ``(2, N2, U)`` (last axis, distinct
  frequencies ``U``), both already multiplied by the per-frequency scale;
* ``pos``: ``(A, U)`` int32, the mode at box position ``(a, u)`` or ``-1``.

Analysis computes ``X = sum_n x(n) (c1 - i s1)(c2 - i s2)``, synthesis
``y = bias + Re sum_(a,u) Y(a,u) (c1 + i s1)(c2 + i s2)``; with the same tables
the two are exact adjoints of each other. Every product is a ``tl.dot`` with
``input_precision="ieee"`` (full fp32, never TF32), or plain FMA for the
diagonal mixing.

Only builtins of ``triton.language`` are used, none of its own ``@jit``
helpers (``tl.zeros``, ``tl.sum``, ...): those are fixed as compiled or
interpreted when triton is imported, and these kernels must run in both modes
in one process whatever the import order.

The pure-PyTorch twins of these kernels are in :mod:`.reference`.
"""

# ruff: noqa: E741  (kernel arguments keep the math names K, B, C, O, I, J)
from __future__ import annotations

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - a CPU-only install without triton
    triton = None

if triton is not None:

    @triton.jit
    def analysis_1d_kernel(
        x_ptr, t2_ptr, pos_ptr, out_ptr,
        R, N, U, K,
        ACC: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_U: tl.constexpr,
    ):  # fmt: skip
        """x (R, N) -> spectrum (2, K, R) at the modes pos[0, u] (1-D: A = 1)."""
        pid_r = tl.program_id(0)
        pid_u = tl.program_id(1)
        offs_r = pid_r * BLOCK_R + tl.arange(0, BLOCK_R)
        offs_u = pid_u * BLOCK_U + tl.arange(0, BLOCK_U)
        mask_r = offs_r < R
        mask_u = offs_u < U
        acc_re = tl.full((BLOCK_R, BLOCK_U), 0.0, ACC)
        acc_im = tl.full((BLOCK_R, BLOCK_U), 0.0, ACC)
        row_off = offs_r.to(tl.int64) * N
        for n0 in range(0, N, BLOCK_N):
            offs_n = n0 + tl.arange(0, BLOCK_N)
            mask_n = offs_n < N
            xb = tl.load(x_ptr + row_off[:, None] + offs_n[None, :], mask=mask_r[:, None] & mask_n[None, :], other=0.0)
            xb = xb.to(ACC)
            t_off = offs_n[:, None] * U + offs_u[None, :]
            t_mask = mask_n[:, None] & mask_u[None, :]
            cb = tl.load(t2_ptr + t_off, mask=t_mask, other=0.0)
            sb = tl.load(t2_ptr + N * U + t_off, mask=t_mask, other=0.0)
            acc_re = tl.dot(xb, cb, acc_re, input_precision="ieee")
            acc_im = tl.dot(xb, -sb, acc_im, input_precision="ieee")
        k = tl.load(pos_ptr + offs_u, mask=mask_u, other=-1)
        out_off = k[None, :].to(tl.int64) * R + offs_r[:, None]
        valid = mask_r[:, None] & (k[None, :] >= 0)
        tl.store(out_ptr + out_off, acc_re, mask=valid)
        tl.store(out_ptr + K * R + out_off, acc_im, mask=valid)

    @triton.jit
    def analysis_2d_kernel(
        x_ptr, t1_ptr, t2_ptr, pos_ptr, out_ptr,
        R, N1, N2, A, U, K,
        ACC: tl.constexpr, BLOCK_N1: tl.constexpr, BLOCK_N2: tl.constexpr,
        BLOCK_A: tl.constexpr, BLOCK_U: tl.constexpr,
    ):  # fmt: skip
        """One row of x (N1, N2) -> its spectrum at the modes, the partial spectrum kept on chip.

        Per block of BLOCK_N1 rows of the field, the last-axis transform
        T = x (c2 - i s2) is formed in registers (x is read once per U tile) and
        immediately contracted along the first axis into the (A, U) box
        accumulator; only the box positions that hold a mode are stored.
        """
        row = tl.program_id(0)
        pid_u = tl.program_id(1)
        pid_a = tl.program_id(2)
        offs_u = pid_u * BLOCK_U + tl.arange(0, BLOCK_U)
        offs_a = pid_a * BLOCK_A + tl.arange(0, BLOCK_A)
        mask_u = offs_u < U
        mask_a = offs_a < A
        acc_re = tl.full((BLOCK_A, BLOCK_U), 0.0, ACC)
        acc_im = tl.full((BLOCK_A, BLOCK_U), 0.0, ACC)
        x_row = x_ptr + row.to(tl.int64) * N1 * N2
        for n1_0 in range(0, N1, BLOCK_N1):
            offs_n1 = n1_0 + tl.arange(0, BLOCK_N1)
            mask_n1 = offs_n1 < N1
            t_re = tl.full((BLOCK_N1, BLOCK_U), 0.0, ACC)
            t_im = tl.full((BLOCK_N1, BLOCK_U), 0.0, ACC)
            for n2_0 in range(0, N2, BLOCK_N2):
                offs_n2 = n2_0 + tl.arange(0, BLOCK_N2)
                mask_n2 = offs_n2 < N2
                xb = tl.load(
                    x_row + offs_n1[:, None] * N2 + offs_n2[None, :],
                    mask=mask_n1[:, None] & mask_n2[None, :],
                    other=0.0,
                ).to(ACC)
                t_off = offs_n2[:, None] * U + offs_u[None, :]
                t_mask = mask_n2[:, None] & mask_u[None, :]
                cb = tl.load(t2_ptr + t_off, mask=t_mask, other=0.0)
                sb = tl.load(t2_ptr + N2 * U + t_off, mask=t_mask, other=0.0)
                t_re = tl.dot(xb, cb, t_re, input_precision="ieee")
                t_im = tl.dot(xb, -sb, t_im, input_precision="ieee")
            a_off = offs_a[:, None] * N1 + offs_n1[None, :]
            a_mask = mask_a[:, None] & mask_n1[None, :]
            c1 = tl.load(t1_ptr + a_off, mask=a_mask, other=0.0)
            s1 = tl.load(t1_ptr + A * N1 + a_off, mask=a_mask, other=0.0)
            # (c1 - i s1)(t_re + i t_im)
            acc_re = tl.dot(c1, t_re, acc_re, input_precision="ieee")
            acc_re = tl.dot(s1, t_im, acc_re, input_precision="ieee")
            acc_im = tl.dot(c1, t_im, acc_im, input_precision="ieee")
            acc_im = tl.dot(-s1, t_re, acc_im, input_precision="ieee")
        box_mask = mask_a[:, None] & mask_u[None, :]
        k = tl.load(pos_ptr + offs_a[:, None] * U + offs_u[None, :], mask=box_mask, other=-1)
        out_off = k.to(tl.int64) * R + row
        valid = k >= 0
        tl.store(out_ptr + out_off, acc_re, mask=valid)
        tl.store(out_ptr + K * R + out_off, acc_im, mask=valid)

    @triton.jit
    def synthesis_1d_kernel(
        spec_ptr, t2_ptr, pos_ptr, bias_ptr, y_ptr,
        R, N, U, K, O,
        HAS_BIAS: tl.constexpr, ACC: tl.constexpr,
        BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_U: tl.constexpr,
    ):  # fmt: skip
        """Spectrum (2, K, R) -> y (R, N) = bias + Re sum_u Y(u) (c2 + i s2)."""
        pid_r = tl.program_id(0)
        pid_n = tl.program_id(1)
        offs_r = pid_r * BLOCK_R + tl.arange(0, BLOCK_R)
        offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        mask_r = offs_r < R
        mask_n = offs_n < N
        acc = tl.full((BLOCK_R, BLOCK_N), 0.0, ACC)
        for u0 in range(0, U, BLOCK_U):
            offs_u = u0 + tl.arange(0, BLOCK_U)
            mask_u = offs_u < U
            k = tl.load(pos_ptr + offs_u, mask=mask_u, other=-1)
            s_off = k[None, :].to(tl.int64) * R + offs_r[:, None]
            s_mask = mask_r[:, None] & (k[None, :] >= 0)
            yr = tl.load(spec_ptr + s_off, mask=s_mask, other=0.0)
            yi = tl.load(spec_ptr + K * R + s_off, mask=s_mask, other=0.0)
            t_off = offs_u[:, None] + offs_n[None, :] * U
            t_mask = mask_u[:, None] & mask_n[None, :]
            cb = tl.load(t2_ptr + t_off, mask=t_mask, other=0.0)
            sb = tl.load(t2_ptr + N * U + t_off, mask=t_mask, other=0.0)
            acc = tl.dot(yr, cb, acc, input_precision="ieee")
            acc = tl.dot(-yi, sb, acc, input_precision="ieee")
        if HAS_BIAS:
            b = tl.load(bias_ptr + offs_r % O, mask=mask_r, other=0.0).to(ACC)
            acc += b[:, None]
        y_off = offs_r[:, None].to(tl.int64) * N + offs_n[None, :]
        tl.store(y_ptr + y_off, acc.to(y_ptr.dtype.element_ty), mask=mask_r[:, None] & mask_n[None, :])

    @triton.jit
    def _box_partial(
        spec_ptr, t1_ptr, pos_ptr, row, offs_n1, mask_n1, offs_u, mask_u,
        R, N1, A, U, K,
        ACC: tl.constexpr, BLOCK_N1: tl.constexpr, BLOCK_A: tl.constexpr, BLOCK_U: tl.constexpr,
    ):  # fmt: skip
        """Z(n1, u) = sum_a (c1 + i s1)(n1, a) Y(a, u) for one row, gathering Y from the modes."""
        z_re = tl.full((BLOCK_N1, BLOCK_U), 0.0, ACC)
        z_im = tl.full((BLOCK_N1, BLOCK_U), 0.0, ACC)
        for a0 in range(0, A, BLOCK_A):
            offs_a = a0 + tl.arange(0, BLOCK_A)
            mask_a = offs_a < A
            k = tl.load(
                pos_ptr + offs_a[:, None] * U + offs_u[None, :], mask=mask_a[:, None] & mask_u[None, :], other=-1
            )
            s_off = k.to(tl.int64) * R + row
            yr = tl.load(spec_ptr + s_off, mask=k >= 0, other=0.0)
            yi = tl.load(spec_ptr + K * R + s_off, mask=k >= 0, other=0.0)
            a_off = offs_n1[:, None] + offs_a[None, :] * N1
            a_mask = mask_n1[:, None] & mask_a[None, :]
            c1 = tl.load(t1_ptr + a_off, mask=a_mask, other=0.0)
            s1 = tl.load(t1_ptr + A * N1 + a_off, mask=a_mask, other=0.0)
            z_re = tl.dot(c1, yr, z_re, input_precision="ieee")
            z_re = tl.dot(-s1, yi, z_re, input_precision="ieee")
            z_im = tl.dot(c1, yi, z_im, input_precision="ieee")
            z_im = tl.dot(s1, yr, z_im, input_precision="ieee")
        return z_re, z_im

    @triton.jit
    def synthesis_2d_kernel(
        spec_ptr, t1_ptr, t2_ptr, pos_ptr, bias_ptr, y_ptr,
        R, N1, N2, A, U, K, O,
        HAS_BIAS: tl.constexpr, ONE_U_TILE: tl.constexpr, ACC: tl.constexpr,
        BLOCK_N1: tl.constexpr, BLOCK_N2: tl.constexpr, BLOCK_A: tl.constexpr, BLOCK_U: tl.constexpr,
    ):  # fmt: skip
        """Spectrum (2, K, R) -> one row-block of y (R, N1, N2), bias fused into the store.

        The first-axis synthesis Z (BLOCK_N1, U) stays in registers and feeds
        the last-axis synthesis of every column tile; with more than one U tile
        it is recomputed per column tile instead of being written out.
        """
        row = tl.program_id(0)
        pid_n1 = tl.program_id(1)
        offs_n1 = pid_n1 * BLOCK_N1 + tl.arange(0, BLOCK_N1)
        mask_n1 = offs_n1 < N1
        y_row = y_ptr + row.to(tl.int64) * N1 * N2
        if HAS_BIAS:
            b = tl.load(bias_ptr + row % O).to(ACC)
        else:
            b = 0.0
        if ONE_U_TILE:
            offs_u = tl.arange(0, BLOCK_U)
            mask_u = offs_u < U
            z_re, z_im = _box_partial(
                spec_ptr, t1_ptr, pos_ptr, row, offs_n1, mask_n1, offs_u, mask_u,
                R, N1, A, U, K, ACC, BLOCK_N1, BLOCK_A, BLOCK_U,
            )  # fmt: skip
            for n2_0 in range(0, N2, BLOCK_N2):
                offs_n2 = n2_0 + tl.arange(0, BLOCK_N2)
                mask_n2 = offs_n2 < N2
                t_off = offs_u[:, None] + offs_n2[None, :] * U
                t_mask = mask_u[:, None] & mask_n2[None, :]
                c2 = tl.load(t2_ptr + t_off, mask=t_mask, other=0.0)
                s2 = tl.load(t2_ptr + N2 * U + t_off, mask=t_mask, other=0.0)
                acc = tl.dot(z_re, c2, input_precision="ieee")
                acc = tl.dot(-z_im, s2, acc, input_precision="ieee")
                acc += b
                tl.store(
                    y_row + offs_n1[:, None] * N2 + offs_n2[None, :],
                    acc.to(y_ptr.dtype.element_ty),
                    mask=mask_n1[:, None] & mask_n2[None, :],
                )
        else:
            for n2_0 in range(0, N2, BLOCK_N2):
                offs_n2 = n2_0 + tl.arange(0, BLOCK_N2)
                mask_n2 = offs_n2 < N2
                acc = tl.full((BLOCK_N1, BLOCK_N2), 0.0, ACC)
                for u0 in range(0, U, BLOCK_U):
                    offs_u = u0 + tl.arange(0, BLOCK_U)
                    mask_u = offs_u < U
                    z_re, z_im = _box_partial(
                        spec_ptr, t1_ptr, pos_ptr, row, offs_n1, mask_n1, offs_u, mask_u,
                        R, N1, A, U, K, ACC, BLOCK_N1, BLOCK_A, BLOCK_U,
                    )  # fmt: skip
                    t_off = offs_u[:, None] + offs_n2[None, :] * U
                    t_mask = mask_u[:, None] & mask_n2[None, :]
                    c2 = tl.load(t2_ptr + t_off, mask=t_mask, other=0.0)
                    s2 = tl.load(t2_ptr + N2 * U + t_off, mask=t_mask, other=0.0)
                    acc = tl.dot(z_re, c2, acc, input_precision="ieee")
                    acc = tl.dot(-z_im, s2, acc, input_precision="ieee")
                acc += b
                tl.store(
                    y_row + offs_n1[:, None] * N2 + offs_n2[None, :],
                    acc.to(y_ptr.dtype.element_ty),
                    mask=mask_n1[:, None] & mask_n2[None, :],
                )

    @triton.jit
    def mix_dense_kernel(
        in_ptr, w_ptr, ck_ptr, out_ptr,
        K, B, I, J, stride_wk, stride_wi, stride_wj,
        CONJ: tl.constexpr, ACC: tl.constexpr,
        BLOCK_B: tl.constexpr, BLOCK_I: tl.constexpr, BLOCK_J: tl.constexpr,
    ):  # fmt: skip
        """out[k] = ck[k] * in[k] @ W[k] (complex, planes (2, K, B, I) -> (2, K, B, J)).

        W is complex interleaved (re, im adjacent) with element strides
        ``stride_w*``; ``CONJ`` uses conj(W) (the adjoint passes W^H by swapping strides).
        """
        k = tl.program_id(0)
        pid_b = tl.program_id(1)
        pid_j = tl.program_id(2)
        offs_b = pid_b * BLOCK_B + tl.arange(0, BLOCK_B)
        offs_j = pid_j * BLOCK_J + tl.arange(0, BLOCK_J)
        mask_b = offs_b < B
        mask_j = offs_j < J
        acc_re = tl.full((BLOCK_B, BLOCK_J), 0.0, ACC)
        acc_im = tl.full((BLOCK_B, BLOCK_J), 0.0, ACC)
        in_k = in_ptr + k.to(tl.int64) * B * I
        w_k = w_ptr + k.to(tl.int64) * stride_wk
        for i0 in range(0, I, BLOCK_I):
            offs_i = i0 + tl.arange(0, BLOCK_I)
            mask_i = offs_i < I
            x_off = offs_b[:, None] * I + offs_i[None, :]
            x_mask = mask_b[:, None] & mask_i[None, :]
            xr = tl.load(in_k + x_off, mask=x_mask, other=0.0)
            xi = tl.load(in_k + K * B * I + x_off, mask=x_mask, other=0.0)
            w_off = offs_i[:, None] * stride_wi + offs_j[None, :] * stride_wj
            w_mask = mask_i[:, None] & mask_j[None, :]
            wr = tl.load(w_k + w_off, mask=w_mask, other=0.0)
            wi = tl.load(w_k + w_off + 1, mask=w_mask, other=0.0)
            if CONJ:
                wi = -wi
            acc_re = tl.dot(xr, wr, acc_re, input_precision="ieee")
            acc_re = tl.dot(-xi, wi, acc_re, input_precision="ieee")
            acc_im = tl.dot(xr, wi, acc_im, input_precision="ieee")
            acc_im = tl.dot(xi, wr, acc_im, input_precision="ieee")
        c = tl.load(ck_ptr + k)
        out_k = out_ptr + k.to(tl.int64) * B * J
        o_off = offs_b[:, None] * J + offs_j[None, :]
        o_mask = mask_b[:, None] & mask_j[None, :]
        tl.store(out_k + o_off, acc_re * c, mask=o_mask)
        tl.store(out_k + K * B * J + o_off, acc_im * c, mask=o_mask)

    @triton.jit
    def mix_diagonal_kernel(
        in_ptr, w_ptr, ck_ptr, out_ptr,
        K, B, C,
        CONJ: tl.constexpr, BLOCK: tl.constexpr,
    ):  # fmt: skip
        """out[k, b, c] = ck[k] * in[k, b, c] * W[k, c] (or conj W) on planes (2, K, B, C)."""
        k = tl.program_id(0)
        pid = tl.program_id(1)
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        mask = offs < B * C
        c_idx = offs % C
        base = k.to(tl.int64) * B * C
        xr = tl.load(in_ptr + base + offs, mask=mask, other=0.0)
        xi = tl.load(in_ptr + K * B * C + base + offs, mask=mask, other=0.0)
        wr = tl.load(w_ptr + (k.to(tl.int64) * C + c_idx) * 2, mask=mask, other=0.0)
        wi = tl.load(w_ptr + (k.to(tl.int64) * C + c_idx) * 2 + 1, mask=mask, other=0.0)
        if CONJ:
            wi = -wi
        c = tl.load(ck_ptr + k)
        tl.store(out_ptr + base + offs, (xr * wr - xi * wi) * c, mask=mask)
        tl.store(out_ptr + K * B * C + base + offs, (xr * wi + xi * wr) * c, mask=mask)

    @triton.jit
    def weight_grad_dense_kernel(
        x_ptr, g_ptr, ck_ptr, gw_ptr,
        K, B, C, O,
        ACC: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_O: tl.constexpr,
    ):  # fmt: skip
        """gW[k] = ck[k] * X[k]^H @ G[k]: X (2, K, B, C), G (2, K, B, O) -> gW (K, C, O) interleaved."""
        k = tl.program_id(0)
        pid_c = tl.program_id(1)
        pid_o = tl.program_id(2)
        offs_c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
        offs_o = pid_o * BLOCK_O + tl.arange(0, BLOCK_O)
        mask_c = offs_c < C
        mask_o = offs_o < O
        acc_re = tl.full((BLOCK_C, BLOCK_O), 0.0, ACC)
        acc_im = tl.full((BLOCK_C, BLOCK_O), 0.0, ACC)
        x_k = x_ptr + k.to(tl.int64) * B * C
        g_k = g_ptr + k.to(tl.int64) * B * O
        for b0 in range(0, B, BLOCK_B):
            offs_b = b0 + tl.arange(0, BLOCK_B)
            mask_b = offs_b < B
            xt_off = offs_c[:, None] + offs_b[None, :] * C  # X^T tile (C, B)
            xt_mask = mask_c[:, None] & mask_b[None, :]
            xr = tl.load(x_k + xt_off, mask=xt_mask, other=0.0)
            xi = tl.load(x_k + K * B * C + xt_off, mask=xt_mask, other=0.0)
            g_off = offs_b[:, None] * O + offs_o[None, :]
            g_mask = mask_b[:, None] & mask_o[None, :]
            gr = tl.load(g_k + g_off, mask=g_mask, other=0.0)
            gi = tl.load(g_k + K * B * O + g_off, mask=g_mask, other=0.0)
            # conj(X)^T G = (xr - i xi)(gr + i gi)
            acc_re = tl.dot(xr, gr, acc_re, input_precision="ieee")
            acc_re = tl.dot(xi, gi, acc_re, input_precision="ieee")
            acc_im = tl.dot(xr, gi, acc_im, input_precision="ieee")
            acc_im = tl.dot(-xi, gr, acc_im, input_precision="ieee")
        c = tl.load(ck_ptr + k)
        w_off = (k.to(tl.int64) * C * O + offs_c[:, None] * O + offs_o[None, :]) * 2
        w_mask = mask_c[:, None] & mask_o[None, :]
        tl.store(gw_ptr + w_off, acc_re * c, mask=w_mask)
        tl.store(gw_ptr + w_off + 1, acc_im * c, mask=w_mask)

    @triton.jit
    def weight_grad_diagonal_kernel(
        x_ptr, g_ptr, ck_ptr, gw_ptr,
        K, B, C,
        ACC: tl.constexpr, BLOCK_C: tl.constexpr,
    ):  # fmt: skip
        """gW[k, c] = ck[k] * sum_b conj(X[k, b, c]) G[k, b, c] -> gW (K, C) interleaved."""
        k = tl.program_id(0)
        pid_c = tl.program_id(1)
        offs_c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
        mask_c = offs_c < C
        acc_re = tl.full((BLOCK_C,), 0.0, ACC)
        acc_im = tl.full((BLOCK_C,), 0.0, ACC)
        base = k.to(tl.int64) * B * C
        for b in range(0, B):  # rows of (B, C) are contiguous in c
            off = base + b * C + offs_c
            xr = tl.load(x_ptr + off, mask=mask_c, other=0.0)
            xi = tl.load(x_ptr + K * B * C + off, mask=mask_c, other=0.0)
            gr = tl.load(g_ptr + off, mask=mask_c, other=0.0)
            gi = tl.load(g_ptr + K * B * C + off, mask=mask_c, other=0.0)
            acc_re += xr * gr + xi * gi
            acc_im += xr * gi - xi * gr
        c = tl.load(ck_ptr + k)
        w_off = (k.to(tl.int64) * C + offs_c) * 2
        tl.store(gw_ptr + w_off, acc_re * c, mask=mask_c)
        tl.store(gw_ptr + w_off + 1, acc_im * c, mask=mask_c)
