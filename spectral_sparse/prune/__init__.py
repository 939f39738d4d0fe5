"""Pruning in the Fourier domain: fewer modes, less cost.

* :func:`prune_modes` removes a fraction of the modes of every
  :class:`~spectral_sparse.SparseSpectralConv` by a criterion (``magnitude``,
  ``energy``, ``taylor``; see :mod:`~spectral_sparse.prune.criteria`), per
  layer or globally, and compacts the layers.
* Schedules (:func:`one_shot`, :func:`iterative`, :func:`gradual`) and
  :func:`prune_and_fine_tune` alternate pruning and fine-tuning.
* :func:`prune_channels` removes hidden channels (the width) of a
  :class:`~spectral_sparse.models.SpectralClassifier` and compacts every layer,
  which cuts the pointwise and transform cost that mode pruning leaves.
* :func:`distillation_loss` retrains a pruned model against the dense one's
  soft predictions (``train_classifier(..., loss_fn=...)``).
* :func:`sparsity_report` tabulates modes, parameters and FLOPs per layer.

Examples
--------
>>> import spectral_sparse as ss
>>> from spectral_sparse.prune import prune_modes, sparsity_report
>>> model = ss.models.SpectralClassifier(1, 3, width=4, modes=3, depth=2)
>>> _ = prune_modes(model, 0.5, criterion="magnitude", scope="global")
>>> sparsity_report(model).totals["modes_kept"]
15
"""

from .channels import CHANNEL_CRITERIA, channel_scores, prune_channels
from .core import SCOPES, fine_tune, prune_and_fine_tune, prune_modes, spectral_layers
from .criteria import CRITERIA, get_criterion
from .distill import distillation_loss
from .report import SparsityReport, layer_flops, sparsity_report
from .schedules import SCHEDULES, Schedule, get_schedule, gradual, iterative, one_shot

__all__ = [
    "CHANNEL_CRITERIA",
    "CRITERIA",
    "SCHEDULES",
    "SCOPES",
    "Schedule",
    "SparsityReport",
    "channel_scores",
    "distillation_loss",
    "fine_tune",
    "get_criterion",
    "get_schedule",
    "gradual",
    "iterative",
    "layer_flops",
    "one_shot",
    "prune_and_fine_tune",
    "prune_channels",
    "prune_modes",
    "sparsity_report",
    "spectral_layers",
]
