"""Robust accuracy, and the resolution matrix: craft an attack at one grid, evaluate at another.

Any callable ``attack(images, labels) -> adversarial images`` can be evaluated:
the attacks of this package, or torchattacks' (which assume inputs in [0, 1]).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._checks import grid_shape, positive_int, resolution_name
from .._checks import progress as progress_bar
from ..data.transforms import resize
from ..evaluation import check_labeled_images
from .gradient import Domain, check_domain, eval_mode, model_dtype
from .transfer import transfer

__all__ = ["accuracy", "robust_accuracy", "robustness_matrix"]

Attack = Callable[[Tensor, Tensor], Tensor]


@torch.no_grad()
def _predict(model: nn.Module, images: Tensor, batch_size: int) -> Tensor:
    device, dtype = model_dtype(model, images)
    with eval_mode(model):
        out = [model(c.to(device=device, dtype=dtype)).argmax(1).cpu() for c in images.split(batch_size)]
    return torch.cat(out)


def accuracy(model: nn.Module, images: Tensor, labels: Tensor, batch_size: int = 250) -> float:
    """Fraction of ``images`` (n, C, H, W) classified as ``labels`` (eval mode, no gradients).

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> 0.0 <= accuracy(model, torch.rand(5, 1, 2, 2), torch.zeros(5, dtype=torch.long)) <= 1.0
    True
    """
    check_labeled_images(images, labels)
    positive_int(batch_size, "batch_size")
    return float((_predict(model, images, batch_size) == labels.cpu()).float().mean())


def _attack_all(attack: Attack, images: Tensor, labels: Tensor, batch_size: int, progress: bool, desc: str) -> Tensor:
    if not callable(attack):
        raise TypeError(f"attack must be a callable attack(images, labels), got {type(attack).__name__}")
    out = []
    chunks = list(zip(images.split(batch_size), labels.split(batch_size)))
    for x, y in progress_bar(chunks, progress and len(chunks) > 1, desc=desc):
        adv = attack(x, y)
        if not isinstance(adv, Tensor) or adv.shape != x.shape:
            got = tuple(adv.shape) if isinstance(adv, Tensor) else type(adv).__name__
            raise ValueError(f"the attack returned {got}, expected adversarial images of shape {tuple(x.shape)}")
        out.append(adv.detach().to(images.device, images.dtype))
    return torch.cat(out)


def robust_accuracy(
    model: nn.Module, images: Tensor, labels: Tensor, attack: Attack, batch_size: int = 100, progress: bool = False
) -> float:
    """Accuracy of ``model`` on ``attack(images, labels)``, attacked ``batch_size`` images at a time.

    Examples
    --------
    >>> import torch
    >>> from spectral_sparse.attacks import PGD
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    >>> x, y = torch.rand(6, 1, 4, 4), torch.arange(6) % 3
    >>> robust_accuracy(model, x, y, PGD(model, eps=0.5, steps=5)) <= accuracy(model, x, y)
    True
    """
    check_labeled_images(images, labels)
    positive_int(batch_size, "batch_size")
    adv = _attack_all(attack, images, labels, batch_size, progress, "attack")
    return accuracy(model, adv, labels, batch_size)


def robustness_matrix(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    attack: Attack,
    source_resolutions: Sequence[int | Sequence[int]],
    target_resolutions: Sequence[int | Sequence[int]] | None = None,
    *,
    method: str = "fourier",
    transfer_method: str | None = None,
    domain: Domain = (0.0, 1.0),
    batch_size: int = 100,
    progress: bool = False,
) -> dict[str, Any]:
    """Robust accuracy when an attack is crafted at one resolution and evaluated at another.

    For every source grid ``s`` the test images are resized to ``s`` with
    ``method`` and clamped to ``domain`` (the clean images "at resolution s"),
    attacked there with ``attack``, and each adversarial batch is moved to every
    target grid ``t`` with :func:`~spectral_sparse.attacks.transfer`
    (``transfer_method``, clamped to ``domain``), where the model classifies it.
    The diagonal ``s == t`` is the usual white-box robust accuracy at ``s``.

    Parameters
    ----------
    model : nn.Module
        The classifier the matrix is measured on; it must accept every grid.
    images : Tensor, shape (n, C, H, W)
        Test images at their native grid.
    labels : LongTensor, shape (n,)
    attack : callable
        ``attack(images, labels) -> adversarial images`` (same shape), e.g.
        :class:`~spectral_sparse.attacks.PGD`, :class:`~spectral_sparse.attacks.FourierPGD`
        or a torchattacks attack; usually bound to ``model`` (white box), but a
        surrogate model's attack measures black-box transfer.
    source_resolutions, target_resolutions : sequences of int or (H, W)
        Grids to craft at and to evaluate at (default targets: the sources).
    method : str
        Resize method that puts the test set on the source and target grids.
    transfer_method : str, optional
        Method that moves adversarial images to the targets (default: ``method``).
    domain : (lo, hi) or None
        Valid input range: clean and transferred images are clamped to it.
    batch_size : int
        Images attacked (and classified) at a time.
    progress : bool
        Show tqdm bars.

    Returns
    -------
    dict
        ``rows``: one dict per (source, target) with ``source``, ``target``,
        ``robust_accuracy``, ``clean_accuracy`` (at the target), ``n``;
        ``clean``: rows ``{resolution, accuracy, n}`` for every grid used;
        ``matrix``: Tensor (S, T) of robust accuracies; ``sources``, ``targets``
        (int, or ``"HxW"`` when not square), ``method``, ``transfer_method``.

    Examples
    --------
    >>> import torch
    >>> from spectral_sparse.attacks import FGSM
    >>> from spectral_sparse.models import SpectralClassifier
    >>> model = SpectralClassifier(1, 3, width=4, modes=2, depth=1)
    >>> x, y = torch.rand(4, 1, 12, 12), torch.tensor([0, 1, 2, 0])
    >>> out = robustness_matrix(model, x, y, FGSM(model, eps=0.1), [8, 12], [12, 16])
    >>> out["matrix"].shape, [(r["source"], r["target"]) for r in out["rows"]][:2]
    (torch.Size([2, 2]), [(8, 12), (8, 16)])
    """
    check_labeled_images(images, labels)
    positive_int(batch_size, "batch_size")
    domain = check_domain(domain)
    transfer_method = method if transfer_method is None else transfer_method
    sources = [grid_shape(r) for r in source_resolutions]
    targets = sources if target_resolutions is None else [grid_shape(r) for r in target_resolutions]
    if not sources or not targets:
        raise ValueError("source_resolutions and target_resolutions must not be empty")
    labels = labels.cpu()
    clean_sets: dict[tuple[int, int], Tensor] = {}

    def clean(grid: tuple[int, int]) -> Tensor:
        if grid not in clean_sets:
            clean_sets[grid] = resize(images, grid, method=method, clamp=domain)
        return clean_sets[grid]

    clean_acc = {g: accuracy(model, clean(g), labels, batch_size) for g in dict.fromkeys([*sources, *targets])}
    matrix = torch.zeros(len(sources), len(targets), dtype=torch.float64)
    rows = []
    for i, s in enumerate(progress_bar(sources, progress, desc="sources")):
        adv = _attack_all(attack, clean(s), labels, batch_size, progress, f"attack at {resolution_name(s)}")
        for j, t in enumerate(targets):
            moved = transfer(adv, t, method=transfer_method, domain=domain)
            acc = accuracy(model, moved, labels, batch_size)
            matrix[i, j] = acc
            rows.append(
                {
                    "source": resolution_name(s),
                    "target": resolution_name(t),
                    "robust_accuracy": acc,
                    "clean_accuracy": clean_acc[t],
                    "n": len(labels),
                }
            )
    return {
        "rows": rows,
        "clean": [{"resolution": resolution_name(g), "accuracy": a, "n": len(labels)} for g, a in clean_acc.items()],
        "matrix": matrix,
        "sources": [resolution_name(s) for s in sources],
        "targets": [resolution_name(t) for t in targets],
        "method": method,
        "transfer_method": transfer_method,
    }
