"""Source-task pretraining: a patient-held-out score, from-scratch batch-norm momentum, and the sentence it feeds."""

from __future__ import annotations

import pandas as pd
import pytest


def test_the_held_out_source_patients_share_nothing_with_the_source_training():
    from mammo_utils.modeling.pretrain import holdout_split

    rows = pd.DataFrame(
        {
            "patient_id": [p for p in range(50) for _ in range(4)],
            "cancer": [int(p % 4 == 0) for p in range(50) for _ in range(4)],
        }
    )
    train, held = holdout_split(rows, seed=0)
    assert set(train.patient_id).isdisjoint(held.patient_id)
    assert len(train) + len(held) == len(rows)
    assert 0.15 <= held.patient_id.nunique() / 50 <= 0.25
    assert held.cancer.nunique() == 2  # stratified: both classes held out


def test_the_source_model_trains_its_batch_norm_with_the_from_scratch_momentum():
    import keras

    from mammo_utils.modeling.models import BN_MOMENTUM
    from mammo_utils.modeling.pretrain import build_source_model

    model = build_source_model("efficientnet_lite0", (64, 32))
    bns = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns and all(layer.momentum == BN_MOMENTUM for layer in bns)


def test_pretraining_records_held_out_metrics_and_its_weights_load(synth_root, tmp_path):
    import numpy as np

    from mammo_utils.config import get_config
    from mammo_utils.modeling.models import make_backbone
    from mammo_utils.modeling.pretrain import pretrain_backbone, source_record

    cfg = get_config(
        "small", synth_root, tmp_path, image_size=(64, 32), cache_size=(128, 64), cache_bits=8, batch_size=8,
        workers=1,
    )  # fmt: skip
    path = pretrain_backbone(cfg, "efficientnet_lite0", synth_root, epochs=1)
    record = source_record(path)
    held = record["holdout"]
    assert held["patients"] >= 1 and record["source_patients"] + held["patients"] == 12
    assert 0 <= held["view_accuracy"] <= 1 and 0.5 <= held["view_majority"] <= 1
    low, high = held["lesion_auc_ci"]
    assert low <= held["lesion_auc"] <= high or np.isnan(held["lesion_auc"])
    loaded, source = make_backbone("efficientnet_lite0", (64, 32), weights=str(path))
    fresh, _ = make_backbone("efficientnet_lite0", (64, 32), weights=None)
    assert source == path.name
    assert all(a.shape == b.shape for a, b in zip(loaded.get_weights(), fresh.get_weights()))
    assert any(not np.allclose(a, b) for a, b in zip(loaded.get_weights(), fresh.get_weights()))
    assert pretrain_backbone(cfg, "efficientnet_lite0", synth_root, epochs=1) == path  # reused, not retrained


@pytest.mark.parametrize(("low", "says"), [(0.35, "carries no lesion feature"), (0.62, "carries lesion features")])
def test_the_source_sentence_follows_the_held_out_lesion_interval(low, says):
    from mammo_utils.modeling.conclusions import source_sentence

    record = {
        "final": {"lesion_auc": 0.97, "view_accuracy": 0.99, "density_accuracy": 0.6},
        "holdout": {"patients": 24, "lesion_auc": low + 0.1, "lesion_auc_ci": [low, low + 0.2], "view_accuracy": 0.96,
                    "view_majority": 0.5, "density_accuracy": 0.59, "density_majority": 0.45},
    }  # fmt: skip
    text = source_sentence("arm", record)
    assert says in text and f"[{low:.3f}, {low + 0.2:.3f}]" in text and "training 0.970" in text
