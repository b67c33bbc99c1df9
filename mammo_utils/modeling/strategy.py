"""Where training runs: the tf.distribute strategy and the matching Keras dtype policy.

* TPU when one is attached (``TPU_NAME`` / ``COLAB_TPU_ADDR``);
* ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names several workers (Azure ML's
  ``distribution: type: tensorflow`` sets it on every node; locally, one process per worker with its own
  ``TF_CONFIG``): the trainer's loop of :mod:`~mammo_utils.modeling.distributed_fit` all-reduces the gradients
  and averages batch-norm statistics each epoch, so every worker ends each epoch with the same weights;
* ``MirroredStrategy`` over several GPUs of one host;
* the default strategy otherwise.

Only the chief (:func:`is_chief`) tracks to MLflow and writes the shared run folder; the other workers write to
a folder of their own (:func:`worker_suffix`).
"""

from __future__ import annotations

import json
import logging
import os

log = logging.getLogger(__name__)


def cluster_spec() -> tuple[dict, dict]:
    """``(cluster, task)`` of ``TF_CONFIG`` (empty dicts when unset).

    Raises:
        ValueError: ``TF_CONFIG`` is not JSON.
    """
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return {}, {}
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"TF_CONFIG is not JSON ({exc}): {raw[:200]!r}") from None
    return config.get("cluster", {}) or {}, config.get("task", {}) or {}


def num_workers() -> int:
    """Workers (chief included) named by ``TF_CONFIG``; 1 without it."""
    cluster, _ = cluster_spec()
    return max(1, len(cluster.get("worker", [])) + len(cluster.get("chief", [])))


def is_chief() -> bool:
    """True for the chief (task ``chief``, or worker 0 when there is no chief) and outside a cluster."""
    cluster, task = cluster_spec()
    if num_workers() <= 1:
        return True
    if "chief" in cluster:
        return task.get("type") == "chief"
    return task.get("type", "worker") == "worker" and int(task.get("index", 0)) == 0


def worker_suffix() -> str:
    """``""`` on the chief, ``"_worker<i>"`` on the others (their run folder, never the chief's)."""
    if is_chief():
        return ""
    _, task = cluster_spec()
    return f"_{task.get('type', 'worker')}{int(task.get('index', 0))}"


def distribution_strategy():
    """TPU when one is attached, MultiWorkerMirroredStrategy over a ``TF_CONFIG`` cluster, MirroredStrategy over
    several GPUs, else the default strategy.

    Also sets Keras' *global* dtype policy, which layers read when they are built, so call it before
    building the model: ``mixed_bfloat16`` on TPU, ``mixed_float16`` on GPU, ``float32`` on CPU. The
    trainer restores the previous policy when it finishes. A multi-worker strategy must be created before any
    other TensorFlow op runs in the process, so the trainer asks for it first; it is created once per process.

    Returns:
        ``(strategy, policy_name)``.
    """
    import keras
    import tensorflow as tf

    if os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR"):
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            keras.mixed_precision.set_global_policy("mixed_bfloat16")
            return tf.distribute.TPUStrategy(resolver), "mixed_bfloat16"
        except (ValueError, RuntimeError, tf.errors.OpError) as exc:
            log.warning("TPU named but not usable (%s); falling back to GPU/CPU", exc)
    gpus = tf.config.list_physical_devices("GPU")
    policy = "mixed_float16" if gpus else "float32"
    keras.mixed_precision.set_global_policy(policy)
    if num_workers() > 1:
        global _MULTI_WORKER
        if _MULTI_WORKER is None:
            _MULTI_WORKER = tf.distribute.MultiWorkerMirroredStrategy()
            log.info(
                "MultiWorkerMirroredStrategy: %d workers, %d replicas",
                num_workers(),
                _MULTI_WORKER.num_replicas_in_sync,
            )
        return _MULTI_WORKER, policy
    strategy = tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    return strategy, policy


_MULTI_WORKER = None
