"""Training of the patch classifier: held-out split by sample, Adam, early stopping.

As the seed paper (``single-image-deep-defocus-estimation.md`` sec. 3.1): cross-entropy over
the levels, Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8), batch 128. Differences, stated: the
split is by whole samples (``val_fraction`` of the rendered scenes are held out, so no scene
lends patches to both halves); training stops when the held-out loss has not improved for
``patience`` epochs and the weights of the best epoch are kept; batches are augmented with the
8 flips/rotations of the square (a defocus PSF is symmetric, so the label does not change), and
each patch's contrast is scaled by a random factor in ``contrast`` and Gaussian noise of a
random sd in ``noise_sd`` (fraction of full scale) is added. Without the last two the network
learns a shortcut: with one texture palette and one noise level, a blurred patch is one whose
noise is large against its contrast, and on frames with another noise level it is biased by
several px (measured on the virtual bench: +2.4 px with the camera's noise, -6 px without noise;
docs/defocus-maps.md). The held-out patches get the same kind of perturbation, drawn once
(seeded), so the held-out numbers include it. Deterministic for a seed on one device type
(CPU runs are; CUDA convolutions may not be).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as nnf

from psfbench.core.defocus.model import (
    DefocusModel,
    ModelSpec,
    PatchNet,
    expected_sigma,
    normalise_patches,
)
from psfbench.core.defocus.patches import PatchSet, level_labels


class TrainError(ValueError):
    """A training set or options that cannot train a model; complete message."""


@dataclass(frozen=True)
class TrainOptions:
    """``epochs`` at most; ``patience`` epochs without a better held-out loss stop early;
    ``val_fraction`` of the samples held out; ``max_seconds`` stops after the epoch that
    passes it (None: no limit)."""

    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    patience: int = 5
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "cpu"
    augment: bool = True
    noise_sd: tuple[float, float] = (0.0, 0.015)
    contrast: tuple[float, float] = (0.4, 1.0)
    max_seconds: float | None = None

    def validate(self) -> None:
        if self.epochs < 1:
            raise TrainError("--epochs: need at least 1")
        if self.batch_size < 1:
            raise TrainError("--batch-size: need at least 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise TrainError("--lr: need a learning rate > 0")
        if self.patience < 1:
            raise TrainError("--patience: need at least 1 epoch")
        if not 0.0 < self.val_fraction < 1.0:
            raise TrainError("--val-fraction: need 0 < fraction < 1")
        lo, hi = self.noise_sd
        if not 0.0 <= lo <= hi <= 1.0:
            raise TrainError("--noise-range: need 0 <= LOW <= HIGH <= 1 (fraction of full scale)")
        lo, hi = self.contrast
        if not 0.0 < lo <= hi:
            raise TrainError("--contrast-range: need 0 < LOW <= HIGH")


@dataclass
class EpochRecord:
    """One epoch: mean training loss and accuracy, held-out loss, accuracy (exact level) and
    MAE of the expected sigma (px) against the patches' true mean sigma, seconds."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    val_mae_px: float
    seconds: float


@dataclass
class TrainResult:
    model: DefocusModel
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    stopped: str = ""
    n_train: int = 0
    n_val: int = 0
    train_samples: list[int] = field(default_factory=list)
    val_samples: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def best(self) -> EpochRecord:
        return self.history[self.best_epoch - 1]

    def summary(self) -> dict[str, Any]:
        return {
            "best_epoch": self.best_epoch,
            "epochs_run": len(self.history),
            "stopped": self.stopped,
            "n_train_patches": self.n_train,
            "n_val_patches": self.n_val,
            "n_val_samples": len(self.val_samples),
            "val_accuracy": self.best.val_accuracy,
            "val_mae_px": self.best.val_mae_px,
            "val_loss": self.best.val_loss,
            "seconds": self.seconds,
            "history": [asdict(h) for h in self.history],
        }


def split_by_sample(
    sample: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, val) over patches: a seeded ``val_fraction`` of the distinct
    sample indices (at least one, and at least one left for training) is held out."""
    ids = np.unique(sample)
    if len(ids) < 2:
        raise TrainError(
            f"the patches come from {len(ids)} sample(s); a held-out split needs at least 2"
        )
    rng = np.random.default_rng([seed, 0xDEF0C05])
    n_val = min(max(1, int(round(val_fraction * len(ids)))), len(ids) - 1)
    val_ids = rng.choice(ids, size=n_val, replace=False)
    val = np.isin(sample, val_ids)
    return ~val, val


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    k = int(torch.randint(0, 8, (1,), generator=gen))
    if k & 4:
        x = x.transpose(-2, -1)
    if k & 3:
        x = torch.rot90(x, k & 3, dims=(-2, -1))
    return x


def perturb(
    x: torch.Tensor,
    noise_sd: tuple[float, float],
    contrast: tuple[float, float],
    gen: torch.Generator,
) -> torch.Tensor:
    """(B, 1, P, P) patches with each patch's contrast about its mean scaled by a factor
    uniform in ``contrast`` and Gaussian noise of an sd uniform in ``noise_sd`` added."""
    b = x.shape[0]
    shape = (b, 1, 1, 1)
    c = contrast[0] + (contrast[1] - contrast[0]) * torch.rand(shape, generator=gen)
    sd = noise_sd[0] + (noise_sd[1] - noise_sd[0]) * torch.rand(shape, generator=gen)
    mean = x.mean(dim=(-2, -1), keepdim=True)
    noise = torch.randn(x.shape, generator=gen)
    return mean + (x - mean) * c.to(x.dtype) + sd.to(x.dtype) * noise.to(x.dtype)


@torch.no_grad()
def evaluate_patches(
    net: PatchNet, patches: np.ndarray, sigma: np.ndarray, device: str, batch: int = 1024
) -> tuple[float, float, float]:
    """(loss, accuracy, MAE px of the expected sigma) of ``net`` on (N, P, P) patches with
    true mean sigma (N,)."""
    spec = net.spec
    labels = torch.from_numpy(level_labels(sigma, spec.levels, spec.step))
    net.eval()
    loss = 0.0
    correct = 0
    abs_err = 0.0
    dev = torch.device(device)
    for i in range(0, len(sigma), batch):
        x = torch.from_numpy(patches[i : i + batch]).to(dev)[:, None]
        y = labels[i : i + batch].to(dev)
        logits = net(normalise_patches(x))
        loss += float(nnf.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(-1) == y).sum())
        est = expected_sigma(logits, spec).cpu()
        abs_err += float((est - torch.from_numpy(sigma[i : i + batch])).abs().sum())
    n = max(len(sigma), 1)
    return loss / n, correct / n, abs_err / n


def train_classifier(
    data: PatchSet,
    spec: ModelSpec,
    options: TrainOptions,
    *,
    progress: Callable[[EpochRecord], None] | None = None,
    batch_progress: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train a :class:`PatchNet` on ``data``; returns the best epoch's model and the history.

    ``progress(record)`` after each epoch; ``batch_progress(done, total)`` after each batch.
    Raises :class:`TrainError` for too few patches or samples."""
    options.validate()
    spec.validate()
    if data.patches.shape[1:] != (spec.patch, spec.patch):
        raise TrainError(f"patches are {data.patches.shape[1:]}, the model wants {spec.patch}")
    train_m, val_m = split_by_sample(data.sample, options.val_fraction, options.seed)
    train, val = data.subset(train_m), data.subset(val_m)
    if len(train) < options.batch_size // 4 or len(val) < 1:
        raise TrainError(
            f"too few patches to train: {len(train)} for training, {len(val)} held out "
            "(more samples, a larger --size, or a smaller --stride)"
        )
    dev = torch.device(options.device)
    torch.manual_seed(options.seed)
    gen = torch.Generator().manual_seed(options.seed)
    net = PatchNet(spec).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=options.lr, betas=(0.9, 0.999), eps=1e-8)
    val_gen = torch.Generator().manual_seed(options.seed + 1)
    val_patches = val.patches
    if options.augment:
        val_patches = perturb(
            torch.from_numpy(val.patches)[:, None], options.noise_sd, options.contrast, val_gen
        )[:, 0].numpy()
    x_all = torch.from_numpy(train.patches)
    y_all = torch.from_numpy(level_labels(train.sigma, spec.levels, spec.step))
    n = len(train)
    n_batches = -(-n // options.batch_size)
    result = TrainResult(
        model=DefocusModel(net, spec),
        n_train=n,
        n_val=len(val),
        train_samples=[int(i) for i in np.unique(train.sample)],
        val_samples=[int(i) for i in np.unique(val.sample)],
    )
    best_loss = math.inf
    best_state: dict[str, torch.Tensor] = {}
    since_best = 0
    t_start = time.perf_counter()
    for epoch in range(1, options.epochs + 1):
        t0 = time.perf_counter()
        net.train()
        order = torch.randperm(n, generator=gen)
        tot_loss = 0.0
        correct = 0
        for b in range(n_batches):
            idx = order[b * options.batch_size : (b + 1) * options.batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            x = x_all[idx][:, None]
            if options.augment:
                x = perturb(_augment(x, gen), options.noise_sd, options.contrast, gen)
            x = normalise_patches(x.to(dev))
            y = y_all[idx].to(dev)
            logits = net(x)
            loss = nnf.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot_loss += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(-1) == y).sum())
            if batch_progress is not None:
                batch_progress(b + 1, n_batches)
        v_loss, v_acc, v_mae = evaluate_patches(net, val_patches, val.sigma, options.device)
        rec = EpochRecord(
            epoch,
            tot_loss / n,
            correct / n,
            v_loss,
            v_acc,
            v_mae,
            time.perf_counter() - t0,
        )
        result.history.append(rec)
        if progress is not None:
            progress(rec)
        if v_loss < best_loss - 1e-6:
            best_loss = v_loss
            result.best_epoch = epoch
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            since_best = 0
        else:
            since_best += 1
        if since_best >= options.patience:
            result.stopped = f"early stop: no better held-out loss for {options.patience} epochs"
            break
        if options.max_seconds is not None and time.perf_counter() - t_start > options.max_seconds:
            result.stopped = f"time limit ({options.max_seconds:g} s)"
            break
    else:
        result.stopped = f"{options.epochs} epochs"
    net.load_state_dict(best_state)
    net.eval()
    result.seconds = time.perf_counter() - t_start
    return result
