"""Labelled feedback joins training: the running service keeps the image each prediction scored, a label (and its
correction) arrives over HTTP, the import writes those images into a challenger's cache with their current label,
the kept image is the one training would have cached for the same file, and a training run learns from them and
records how many it used."""

from __future__ import annotations

import dataclasses
import os

import httpx
import numpy as np
import pytest

AUTH = {"Authorization": "Bearer test-token-123"}


@pytest.mark.timeout(900)
def test_labelled_predictions_join_the_next_challengers_training_split(server, synth_root, tiny_run, tmp_path):
    import mlflow

    from mammo_utils.data.pipeline import cache_paths
    from mammo_utils.data.prepare import prepare_data
    from mammo_utils.data.preprocess import read_cached
    from mammo_utils.data.rsna import load_train
    from mammo_utils.data.splits import fold_frames
    from mammo_utils.modeling.train import train
    from mammo_utils.monitoring.store import open_store
    from mammo_utils.workflows.feedback_data import feedback_id, import_feedback

    url, log = server
    images = load_train(synth_root).head(4)
    served = {}
    for row in images.itertuples():
        path = synth_root / "train_images" / str(row.patient_id) / f"{row.image_id}.dcm"
        answer = httpx.post(f"{url}/v1/predict", files={"file": ("x.dcm", path.read_bytes())}, headers=AUTH)
        assert answer.status_code == 200, answer.text
        served[row.image_id] = answer.json()["request_id"]
    ids = list(served.values())
    for rid, label in zip(ids, (1, 0, 0, 1)):
        body = {"request_id": rid, "label": label, "source": "biopsy"}
        ok = httpx.post(f"{url}/v1/feedback", json=body, headers=AUTH)
        assert ok.status_code == 200, ok.text
    fixed = httpx.post(
        f"{url}/v1/feedback", json={"request_id": ids[1], "label": 1, "reason": "second read", "author": "dr-b"},
        headers=AUTH,
    )  # fmt: skip
    assert fixed.status_code == 200, fixed.text

    cfg, _ = tiny_run
    cfg = dataclasses.replace(cfg, work_dir=tmp_path / "work", mlflow_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    store = open_store(f"sqlite:///{log.parent / 'feedback.db'}")
    df, cache = prepare_data(cfg, progress=False)
    rows, provenance = import_feedback(store, cache, cfg.cache_size, cfg.cache_bits)
    mine = rows[rows.request_id.isin(ids)].set_index("request_id")
    assert len(mine) == 4 and set(mine.split) == {"train"} and (mine.patient_id < 0).all()
    assert [int(mine.cancer[r]) for r in ids] == [1, 1, 0, 1]  # the corrected label, not the first one
    assert {r["request_id"] for r in provenance["requests"]} >= set(ids) and provenance["images"] == len(rows)
    assert provenance["other_geometries"] == [] and len(provenance["rows_sha256"]) == 64

    # the kept image is what training cached for the same file (same crop, size and quantisation)
    found = cache_paths(mine.reset_index(), cache).set_index("request_id")
    dataset = cache_paths(df[df.image_id.isin(list(served))], cache).set_index("image_id")
    for image_id, rid in served.items():
        assert found.image_id[rid] == feedback_id(rid)
        kept, cached = read_cached(cache, found.png[rid]), read_cached(cache, dataset.png[image_id])
        assert kept.shape == cached.shape and np.abs(kept - cached).max() <= 1 / 255 + 1e-6
    assert not any(str(v) in os.fspath(found.png[ids[0]]) for v in images.patient_id)  # no dataset id in names

    cfg = dataclasses.replace(cfg, epochs=1, finetune_epochs=0)
    result = train(cfg, run_name="with_feedback", track=True, verbose=0, promote=False, extra_train=rows)
    run = mlflow.MlflowClient(cfg.tracking_uri).get_run(result.run_id)
    assert int(run.data.params["feedback_images"]) == len(rows)
    assert int(run.data.params["feedback_positives"]) == int(rows.cancer.sum())
    assert int(run.data.params["train_images"]) == len(cache_paths(fold_frames(df, cfg.fold)[0], cache)) + len(rows)
    with pytest.raises(ValueError, match="not in the cache"):
        train(cfg, run_name="bad", track=False, verbose=0, extra_train=rows.assign(image_id=rows.image_id - 1))
    store.close()
