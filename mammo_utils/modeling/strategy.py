"""Where training runs: the tf.distribute strategy and the matching Keras dtype policy."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def distribution_strategy():
    """TPU when one is attached, MirroredStrategy over several GPUs, else the default strategy.

    Also sets Keras' *global* dtype policy, which layers read when they are built, so call it before
    building the model: ``mixed_bfloat16`` on TPU, ``mixed_float16`` on GPU, ``float32`` on CPU. The
    trainer restores the previous policy when it finishes.

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
    strategy = tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    return strategy, policy
