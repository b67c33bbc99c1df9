"""Source-task pretraining: the transfer-learning mechanism that runs offline, honestly named.

ImageNet weights cannot be downloaded on an offline machine, so this module makes a backbone's starting weights
the way ImageNet weights were made — by training on *another task on other images* — and saves them as a weights
file that :func:`~mammo_utils.modeling.models.make_backbone` loads like any pretrained file (``weights=<path>``).
The target run then does the real two-stage fine-tune (frozen backbone, then unfrozen with batch-norm frozen).

Source data: a **disjoint synthetic population** (the embedded generator with another seed: no patient, image or
lesion in common with the target dataset). Source task, multi-task on each image: lesion present (the image's
breast has a planted lesion), view (CC or MLO) and breast density (A–D; masked where missing). The density and view
heads make the features describe the anatomy, not only the lesion. A fifth of the source patients (patient-grouped,
stratified on cancer) is held out of the source training and scored after it, so the record says whether the
backbone learnt the source task or only its training images.

On Kaggle/Colab the ``full`` profile keeps ImageNet (``MAMMO_WEIGHTS_DIR`` or the Keras cache); this module is what
the ``small`` profile uses to show transfer on a CPU.

Example:
    >>> from mammo_utils.modeling.pretrain import pretrain_backbone  # doctest: +SKIP
    >>> path = pretrain_backbone(cfg, "efficientnetb0", source_root)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from ..config import Config
from ..data.pipeline import cache_paths
from ..data.preprocess import preprocess_dataset
from ..data.rsna import load_train
from ..data.splits import TEST, make_splits
from ..evaluation.metrics import bootstrap_ci, roc_auc
from ..utils import seed_everything, to_json, write_atomic
from .models import BACKBONES, BN_MOMENTUM, ImagenetInput, make_backbone, set_bn_momentum

DENSITIES = ("A", "B", "C", "D")
SOURCE_SEED_OFFSET = 1000
HOLDOUT_SHARE = 0.2


def source_labels(df: pd.DataFrame) -> pd.DataFrame:
    """Source-task targets per image: ``lesion`` (0/1), ``view_mlo`` (0/1; other views dropped), ``density``
    (0..3, -1 when missing).

    Args:
        df: ``train.csv`` rows of the source population.

    Returns:
        The CC/MLO rows with the three target columns.
    """
    out = df[df.view.isin(["CC", "MLO"])].copy()
    out["lesion"] = out.cancer.astype("float32")
    out["view_mlo"] = (out.view == "MLO").astype("float32")
    out["density_code"] = out.density.map({d: i for i, d in enumerate(DENSITIES)}).fillna(-1).astype("int32")
    return out


def holdout_split(rows: pd.DataFrame, seed: int, share: float = HOLDOUT_SHARE) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Source rows split by patient into (training, held-out), stratified on cancer (the test split of
    :func:`~mammo_utils.data.splits.make_splits`).

    Args:
        rows: :func:`source_labels` rows (``patient_id``, ``cancer``).
        seed: Split seed.
        share: Approximate share of patients held out.

    Returns:
        ``(train, holdout)``; no patient is in both.
    """
    split = make_splits(rows, n_folds=2, test_size=share, seed=seed)
    held = (split.split == TEST).to_numpy()
    return rows[~held], rows[held]


def holdout_metrics(model: keras.Model, rows: pd.DataFrame, image_size, batch_size: int, seed: int) -> dict:
    """Source-task metrics of a trained source model on held-out patients.

    Args:
        model: :func:`build_source_model`'s model after training.
        rows: Held-out :func:`source_labels` rows (with ``png``).
        image_size: Model input (height, width).
        batch_size: Prediction batch size.
        seed: Bootstrap seed.

    Returns:
        ``patients``, ``images``, ``lesion_images``, ``lesion_auc`` with ``lesion_auc_ci`` (95% bootstrap over
        patients; NaN when one class is missing), ``view_accuracy`` and ``density_accuracy`` (images with a density),
        each with the accuracy of always answering the held-out set's most frequent class (``*_majority``).
    """
    out = model.predict(_dataset(rows, image_size, batch_size, seed, False), verbose=0)
    lesion, score = rows.lesion.to_numpy(int), np.asarray(out["lesion"]).ravel()
    both = lesion.min() != lesion.max()
    auc = roc_auc(lesion, score) if both else float("nan")
    low, high = bootstrap_ci(lesion, score, roc_auc, seed=seed, groups=rows.patient_id) if both else (auc, auc)
    known = rows.density_code.to_numpy() >= 0
    density = np.argmax(np.asarray(out["density"]), axis=1)
    codes = rows.density_code.to_numpy()[known]
    return {
        "patients": int(rows.patient_id.nunique()),
        "images": len(rows),
        "lesion_images": int(lesion.sum()),
        "lesion_auc": round(float(auc), 4),
        "lesion_auc_ci": [round(float(low), 4), round(float(high), 4)],
        "view_accuracy": round(float(np.mean((np.asarray(out["view"]).ravel() >= 0.5) == (rows.view_mlo == 1))), 4),
        "view_majority": round(float(max(rows.view_mlo.mean(), 1 - rows.view_mlo.mean())), 4),
        "density_accuracy": round(float(np.mean(density[known] == codes)), 4) if known.any() else None,
        "density_majority": round(float(np.bincount(codes).max() / len(codes)), 4) if known.any() else None,
    }


def _dataset(rows: pd.DataFrame, image_size, batch_size: int, seed: int, training: bool):
    import tensorflow as tf

    from ..data.pipeline import _decoder, with_pipeline_options

    decode = _decoder(tuple(image_size))
    targets = {
        "lesion": rows.lesion.to_numpy("float32"),
        "view": rows.view_mlo.to_numpy("float32"),
        "density": np.maximum(rows.density_code.to_numpy("int32"), 0),
    }
    weights = {"lesion": np.ones(len(rows), "float32"), "view": np.ones(len(rows), "float32")}
    weights["density"] = (rows.density_code.to_numpy() >= 0).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((rows.png.to_numpy(str), targets, weights))
    if training:
        ds = ds.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda p, y, w: (decode(p), y, w), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return with_pipeline_options(ds.batch(batch_size), deterministic=True)


def build_source_model(backbone: str, image_size) -> keras.Model:
    """Backbone (random init) with three source heads: lesion (sigmoid), view (sigmoid), density (softmax 4).

    Trained from scratch, so batch-norm momentum is :data:`~mammo_utils.modeling.models.BN_MOMENTUM` (0.9), as
    for every from-scratch model: at Keras' 0.99 the moving statistics lag the weights and the saved backbone's
    inference-mode features collapse (measured on the source task: held-out view accuracy 0.64 in inference
    mode against 0.99 with batch statistics).

    Args:
        backbone: A :data:`~mammo_utils.modeling.models.BACKBONES` key.
        image_size: Input (height, width).

    Returns:
        The uncompiled multi-task model; its backbone is the layer ``"backbone"``.
    """
    base, _ = make_backbone(backbone, image_size, weights=None)
    inputs = keras.Input((*image_size, 1), name="image")
    x = ImagenetInput(BACKBONES[backbone].mode, name="imagenet_input")(inputs)
    x = keras.layers.GlobalMaxPooling2D(name="source_pool")(base(x))
    x = keras.layers.BatchNormalization(name="source_bn")(x)
    outputs = {
        "lesion": keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="lesion")(x),
        "view": keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="view")(x),
        "density": keras.layers.Dense(len(DENSITIES), activation="softmax", dtype="float32", name="density")(x),
    }
    model = keras.Model(inputs, outputs, name=f"{backbone}_source")
    set_bn_momentum(model, BN_MOMENTUM)
    return model


def weights_path(cfg: Config, backbone: str, source_root: str | Path, epochs: int) -> Path:
    """Where a source-pretrained backbone is kept: one file per backbone, input size, seed, source and epochs."""
    h, w = cfg.image_size
    held = round(HOLDOUT_SHARE * 100)
    name = (
        f"{backbone}_source_{h}x{w}_s{cfg.seed}_{Path(source_root).name}_e{epochs}_h{held}_bn{BN_MOMENTUM:g}.weights.h5"
    )
    return cfg.work_dir / "weights" / name


def pretrain_backbone(cfg: Config, backbone: str, source_root: str | Path, epochs: int = 6, verbose: int = 0) -> Path:
    """Train a backbone on the source task and save its weights (reused when already made).

    Args:
        cfg: Target configuration (image size, cache size/bits, batch size, seed, work dir).
        backbone: A ``keras.applications`` backbone name (e.g. ``efficientnetb0``).
        source_root: RSNA-layout folder of the source population (must not share patients with the target).
        epochs: Source-task epochs.
        verbose: Keras ``fit`` verbosity.

    Returns:
        The saved backbone weights file. A JSON beside it records the source, task, epochs, the last epoch's
        training metrics (``final``) and the held-out patients' metrics (``holdout``, :func:`holdout_metrics`).
    """
    path = weights_path(cfg, backbone, source_root, epochs)
    if path.is_file():
        return path
    seed_everything(cfg.seed, deterministic=cfg.deterministic)
    df = load_train(source_root)
    cache, _ = preprocess_dataset(
        source_root, cfg.cache_root, cfg.cache_size, cfg.cache_bits, workers=cfg.workers, progress=False
    )
    rows, held = holdout_split(source_labels(cache_paths(df, cache)), cfg.seed)
    model = build_source_model(backbone, cfg.image_size)
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss={
            "lesion": "binary_crossentropy",
            "view": "binary_crossentropy",
            "density": "sparse_categorical_crossentropy",
        },
        metrics={"lesion": [keras.metrics.AUC(name="auc")], "view": ["accuracy"], "density": ["accuracy"]},
    )
    start = time.perf_counter()
    history = model.fit(_dataset(rows, cfg.image_size, cfg.batch_size, cfg.seed, True), epochs=epochs, verbose=verbose)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.weights.h5")
    model.get_layer("backbone").save_weights(tmp)
    tmp.replace(path)
    record = {
        "backbone": backbone,
        "source": str(Path(source_root).name),
        "source_images": len(rows),
        "source_patients": int(rows.patient_id.nunique()),
        "task": "lesion present + view (CC/MLO) + density (A-D, masked when missing)",
        "epochs": epochs,
        "seconds": round(time.perf_counter() - start, 1),
        "final": {k: round(float(v[-1]), 4) for k, v in history.history.items()},
        "holdout": holdout_metrics(model, held, cfg.image_size, cfg.batch_size, cfg.seed),
    }
    write_atomic(path.with_suffix("").with_suffix(".json"), to_json(record, indent=1).encode())
    return path


def source_record(path: str | Path) -> dict:
    """The JSON record written beside a source-pretrained weights file."""
    return json.loads(Path(path).with_suffix("").with_suffix(".json").read_text())


def ensure_source_population(cfg: Config, patients: int = 125) -> Path:
    """The disjoint source population: the embedded generator with another seed, under ``<work>/source-population``.

    Args:
        cfg: Target configuration (its seed is offset by :data:`SOURCE_SEED_OFFSET`; image size and prevalence
            of the embedded set are kept).
        patients: Patients in the source population.

    Returns:
        Its RSNA-layout folder (generated once).
    """
    from ..config import is_rsna_root
    from ..data.rsna import load_train
    from ..data.synthetic import generate_dataset

    root = cfg.work_dir / f"source-population-s{cfg.seed + SOURCE_SEED_OFFSET}-{patients}-disjoint"
    if not is_rsna_root(root):
        target = load_train(cfg.data_root).patient_id.unique()  # no patient id may appear in both populations
        generate_dataset(
            root, n_patients=patients, image_size=cfg.synthetic_image_size, prevalence=cfg.synthetic_prevalence,
            seed=cfg.seed + SOURCE_SEED_OFFSET, workers=cfg.workers, progress=False, exclude_patients=target,
        )  # fmt: skip
    return root
