"""Two local worker processes train one epoch together under MultiWorkerMirroredStrategy (TF_CONFIG per
process, CPU) and end with the same weights; the strategy helpers read TF_CONFIG as Azure ML sets it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from mammo_utils.modeling import strategy

WORKER = r"""
import hashlib, json, sys
from mammo_utils.config import get_config
from mammo_utils.modeling.train import train

root, work = sys.argv[1], sys.argv[2]
cfg = get_config(
    "small", root, work, image_size=(64, 32), cache_size=(128, 64), cache_bits=8, epochs=1, finetune_epochs=0,
    n_folds=2, test_size=0.3, batch_size=8, workers=1, deterministic=True,
)
result = train(cfg, run_name="mw", track=False, verbose=0)
import keras
model = keras.saving.load_model(result.model_path, compile=False)
digest = hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()
print(json.dumps({"run": str(result.model_path.parent.name), "weights": digest}))
"""


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_tf_config_names_the_chief_and_the_workers(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert strategy.num_workers() == 1 and strategy.is_chief() and strategy.worker_suffix() == ""
    cluster = {"worker": ["a:1", "b:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert strategy.num_workers() == 2 and not strategy.is_chief() and strategy.worker_suffix() == "_worker1"
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    assert strategy.is_chief()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not JSON"):
        strategy.num_workers()


@pytest.mark.slow  # two TensorFlow processes train together: minutes on two cores
def test_two_workers_train_one_epoch_together_and_agree_on_the_weights(synth_root, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            "CUDA_VISIBLE_DEVICES": "",
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        }
        work = tmp_path / f"work{index}"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(synth_root), str(work)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail("the two workers did not finish in 600 s")
        assert proc.returncode == 0, err[-3000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    assert outputs[0]["run"] == "mw" and outputs[1]["run"] == "mw_worker1"  # only the chief writes the run
    assert outputs[0]["weights"] == outputs[1]["weights"]
