"""Magnitude pruning of Keras 3 models with a polynomial sparsity schedule, applied by a callback.

TensorFlow Model Optimization only prunes Keras 2 (``tf_keras``) models, so this implements its algorithm
(Zhu & Gupta 2017, "To prune, or not to prune") for Keras 3 directly: every ``frequency`` steps the
smallest-magnitude weights of each convolution/dense kernel are masked to reach the schedule's current
sparsity, and after every step the masks are re-applied so the optimizer cannot revive them. Biases,
batch-norm and the one-unit output layer are left dense. What sparsity buys is measured, not assumed:
zeros make no dense CPU kernel faster, they only compress (see :func:`mammo_utils.export.gzipped_mb`).

Example:
    >>> from mammo_utils.modeling.prune import PolynomialSparsity
    >>> PolynomialSparsity(0.0, 0.5, 0, 100)(100)
    0.5
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from ..config import Config
from ..data.pipeline import make_dataset, steps_per_epoch
from ..evaluation.evaluate import evaluate_predictions
from ..utils import seed_everything, to_json, write_atomic
from .losses import make_loss
from .models import all_layers
from .run_state import MODEL, MODEL_INFO
from .score import score_cached


@dataclasses.dataclass(frozen=True)
class PolynomialSparsity:
    """Sparsity ramp ``s(t) = final + (initial - final) * (1 - (t - begin) / (end - begin)) ** power``.

    Args:
        initial: Sparsity at ``begin_step``.
        final: Sparsity from ``end_step`` on (0 <= final < 1).
        begin_step: First step that prunes.
        end_step: Step where ``final`` is reached.
        power: Ramp exponent (3 prunes fast early, when the network can still recover).
    """

    initial: float
    final: float
    begin_step: int
    end_step: int
    power: float = 3.0

    def __post_init__(self):
        if not 0.0 <= self.initial <= self.final < 1.0:
            raise ValueError(f"need 0 <= initial <= final < 1, got initial={self.initial}, final={self.final}")
        if self.end_step <= self.begin_step:
            raise ValueError(f"end_step ({self.end_step}) must be after begin_step ({self.begin_step})")

    def __call__(self, step: int) -> float:
        t = min(max(step - self.begin_step, 0) / (self.end_step - self.begin_step), 1.0)
        return float(self.final + (self.initial - self.final) * (1.0 - t) ** self.power)


def prunable_kernels(model: keras.Model) -> list:
    """Kernels that are pruned: every Conv2D / DepthwiseConv2D / Dense kernel except a one-unit output."""
    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
    out = []
    for layer in all_layers(model):
        if isinstance(layer, kinds) and not (isinstance(layer, keras.layers.Dense) and layer.units == 1):
            out.append(layer.depthwise_kernel if isinstance(layer, keras.layers.DepthwiseConv2D) else layer.kernel)
    return out


def sparsity(model: keras.Model) -> float:
    """Share of exact zeros in the prunable kernels (0 for a dense model)."""
    values = [np.asarray(v) for v in prunable_kernels(model)]
    total = sum(v.size for v in values)
    return float(sum(int(np.sum(v == 0)) for v in values) / total) if total else 0.0


class MagnitudePruning(keras.callbacks.Callback):
    """Mask the smallest weights of every prunable kernel to the schedule's sparsity.

    Args:
        schedule: A :class:`PolynomialSparsity` (steps are training batches).
        frequency: Recompute the masks every ``frequency`` steps (masks are re-applied every step).
    """

    def __init__(self, schedule: PolynomialSparsity, frequency: int = 10):
        super().__init__()
        self.schedule = schedule
        self.frequency = max(1, int(frequency))
        self.step = 0
        self.masks: list[np.ndarray] = []

    def on_train_begin(self, logs=None):
        self.kernels = prunable_kernels(self.model)
        self.masks = [np.ones(tuple(k.shape), np.float32) for k in self.kernels]

    def _update_masks(self, target: float) -> None:
        for i, kernel in enumerate(self.kernels):
            magnitude = np.abs(np.asarray(kernel))
            k = int(round(target * magnitude.size))
            if k == 0:
                continue
            threshold = np.partition(magnitude.reshape(-1), k - 1)[k - 1]
            self.masks[i] = (magnitude > threshold).astype(np.float32)

    def on_train_batch_end(self, batch, logs=None):
        if self.step % self.frequency == 0 or self.step >= self.schedule.end_step:
            self._update_masks(self.schedule(self.step))
        for kernel, mask in zip(self.kernels, self.masks):
            kernel.assign(np.asarray(kernel) * mask)
        self.step += 1


def prune_and_finetune(
    model: keras.Model,
    cfg: Config,
    frames: tuple[pd.DataFrame, pd.DataFrame],
    cache: str | Path,
    target: float = 0.5,
    epochs: int = 3,
    learning_rate: float = 1e-4,
    verbose: int = 0,
) -> tuple[keras.Model, dict]:
    """Fine-tune a trained model while pruning it to ``target`` sparsity; refreeze the threshold on validation.

    The ramp reaches ``target`` after two thirds of the steps; the last third fine-tunes at full sparsity.

    Args:
        model: The trained classifier (modified in place).
        cfg: Its configuration (batch size, image size, balanced sampling, loss, seed).
        frames: ``(train rows, validation rows)`` with ``png``.
        cache: The cache folder.
        target: Final sparsity of the prunable kernels.
        epochs: Fine-tuning epochs.
        learning_rate: Adam learning rate (small: the model is already trained).
        verbose: Keras ``fit`` verbosity.

    Returns:
        ``(model, {"sparsity", "threshold", "val_breast_roc_auc", "steps"})``.
    """
    seed_everything(cfg.seed, deterministic=cfg.deterministic)
    train_df, val_df = frames
    steps = steps_per_epoch(len(train_df), cfg.batch_size)
    total = steps * epochs
    schedule = PolynomialSparsity(0.0, target, 0, max(1, (2 * total) // 3))
    ds = make_dataset(
        train_df,
        cache,
        cfg.batch_size,
        cfg.image_size,
        training=True,
        pos_ratio=cfg.pos_ratio,
        seed=cfg.seed,
        ordered=cfg.deterministic,
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=make_loss(cfg.loss, gamma=cfg.focal_gamma))
    pruning = MagnitudePruning(schedule)
    model.fit(ds, epochs=epochs, steps_per_epoch=steps, callbacks=[pruning], verbose=verbose, shuffle=False)
    val = evaluate_predictions(score_cached(model, val_df, cache, cfg.image_size, cfg.batch_size))
    return model, {
        "sparsity": sparsity(model),
        "threshold": val["threshold"],
        "val_breast_roc_auc": val["breast"]["roc_auc"],
        "steps": total,
    }


def prune_model(
    ref: str | Path, cfg: Config, target: float = 0.5, epochs: int = 3, out: str | Path | None = None
) -> Path:
    """Prune a trained model by magnitude while fine-tuning, and save it as a run folder ready to export.

    Args:
        ref: The trained model (see :func:`mammo_utils.modeling.resolve.resolve_model`).
        cfg: Configuration locating its data.
        target: Final sparsity of the convolution/dense kernels.
        epochs: Fine-tuning epochs.
        out: Run folder to write (default ``<runs>/<run_name>_pruned<NN>``).

    Returns:
        The folder holding ``model.keras`` and ``model_info.json`` (threshold re-frozen on validation).
    """
    from ..data.prepare import data_for_model
    from ..data.splits import fold_frames
    from .resolve import resolve_model

    model, info = resolve_model(ref, cfg.work_dir, cfg.tracking_uri)
    cfg, df, cache = data_for_model(cfg, info)
    train_df, val_df, _ = fold_frames(df, cfg.fold)
    model, result = prune_and_finetune(model, cfg, (train_df, val_df), cache, target, epochs)
    folder = Path(out or cfg.runs_dir / f"{info.get('run_name') or 'model'}_pruned{round(100 * target)}")
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / MODEL)
    info = {
        **info,
        "run_name": folder.name,
        "threshold": result["threshold"],
        "metrics": {"val_breast_roc_auc": result["val_breast_roc_auc"]},
        "pruning": {"target": target, "epochs": epochs, **result, "from_run": info.get("run_name")},
    }
    write_atomic(folder / MODEL_INFO, to_json(info, indent=1).encode())
    return folder
