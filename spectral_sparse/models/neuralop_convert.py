"""Convert a whole neuraloperator model: every ``SpectralConv`` becomes a :class:`~spectral_sparse.SparseSpectralConv`.

:func:`from_neuralop_model` walks a module tree (an ``FNO``, ``TFNO``, ``UNO``,
an ``FNOBlocks``, or any module holding them) and replaces each neuraloperator
``SpectralConv`` by :meth:`SparseSpectralConv.from_neuralop
<spectral_sparse.SparseSpectralConv.from_neuralop>` of it. Everything else
(lifting, projection, skips, channel MLPs, norms, the model's class and its
``n_modes`` setter) is kept as it is, so a trained neuraloperator checkpoint
becomes a drop-in model: load the ``state_dict`` into neuraloperator's model,
then convert.

The converted model computes the same function wherever neuraloperator's layer
is a spectral convolution (see :meth:`SparseSpectralConv.from_neuralop
<spectral_sparse.SparseSpectralConv.from_neuralop>`): on even grids larger than
every layer's box along the non-last axes, and on layers that keep the grid
along every axis but the last.
"""

from __future__ import annotations

import copy

from torch import nn

from ..layers import SparseSpectralConv

__all__ = ["from_neuralop_model"]


def _is_neuralop_spectral_conv(module: nn.Module) -> bool:
    try:
        from neuralop.layers.spectral_convolution import SpectralConv
    except ImportError:  # pragma: no cover - neuraloperator is a test dependency
        return False
    return isinstance(module, SpectralConv) and not isinstance(module, SparseSpectralConv)


def from_neuralop_model(model: nn.Module, backend: str = "auto", inplace: bool = False) -> nn.Module:
    """Replace every neuraloperator ``SpectralConv`` in ``model`` by its sparse twin.

    Parameters
    ----------
    model : nn.Module
        A neuraloperator model (``FNO``, ``TFNO``, ``UNO``, ...), a block, a
        single ``SpectralConv``, or any module tree holding them. Factorized
        weights (``TFNO``'s Tucker default) are reconstructed densely.
    backend : str
        The ``backend`` of every new layer.
    inplace : bool
        Convert ``model`` itself; by default a deep copy is converted and
        ``model`` is left untouched.

    Returns
    -------
    nn.Module
        The converted model (``model`` itself when ``inplace``), in training
        or eval mode as ``model`` was. A bare ``SpectralConv`` returns a new
        ``SparseSpectralConv``.

    Raises
    ------
    ValueError
        A ``SpectralConv`` that :meth:`SparseSpectralConv.from_neuralop
        <spectral_sparse.SparseSpectralConv.from_neuralop>` cannot convert
        (complex data); the message names the submodule.

    Examples
    --------
    >>> import torch
    >>> from neuralop.models import FNO
    >>> from spectral_sparse.models import from_neuralop_model
    >>> fno = FNO(n_modes=(8, 8), in_channels=1, out_channels=1, hidden_channels=8, n_layers=2)
    >>> twin = from_neuralop_model(fno)
    >>> type(twin).__name__, type(twin.fno_blocks.convs[0]).__name__
    ('FNO', 'SparseSpectralConv')
    >>> x = torch.randn(2, 1, 32, 32)
    >>> bool(torch.allclose(twin(x), fno(x), atol=1e-5))
    True
    """
    if _is_neuralop_spectral_conv(model):
        return _convert(model, "", backend)
    target = model if inplace else copy.deepcopy(model)
    for parent_name, parent in list(target.named_modules()):
        for name, child in list(parent.named_children()):
            if _is_neuralop_spectral_conv(child):
                label = f"{parent_name}.{name}" if parent_name else name
                setattr(parent, name, _convert(child, label, backend))
    return target


def _convert(conv: nn.Module, label: str, backend: str) -> SparseSpectralConv:
    try:
        layer = SparseSpectralConv.from_neuralop(conv, backend=backend)
    except (TypeError, ValueError) as err:
        where = f" at {label!r}" if label else ""
        raise type(err)(f"cannot convert the SpectralConv{where}: {err}") from err
    return layer.train(conv.training)
