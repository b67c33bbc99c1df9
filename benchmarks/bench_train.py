"""Benchmark: training images/s and inference ms/image of every classifier family on this machine.

Builds each model exactly as the trainer does (``mammo_utils.modeling.models.build_model``, random weights,
augmentation inside the model), compiles it with the trainer's optimizer and loss, and times in one run:

- training: ``train_on_batch`` on random [0, 1] batches after warm-up steps (images/s);
- inference: ``predict_on_batch`` at the same batch, the median of the timed calls
  (:func:`mammo_utils.evaluation.evaluate.inference_ms`, as the trainer reports it; ms per image).

Each figure is also printed as a ratio to the baseline CNN. Input data are random: this measures the
model, not the input pipeline (see ``bench_pipeline.py``).

    python benchmarks/bench_train.py --size 512x256 --batch 8
"""

from __future__ import annotations

import argparse
import time

import numpy as np

DEFAULT_MODELS = ("baseline", "resnet50", "efficientnetb0", "efficientnetb2", "inceptionv3")


def train_images_per_s(
    name: str,
    size: tuple[int, int],
    batch: int,
    steps: int,
    warmup: int,
    precision: str = "float32",
    augment_strength: float = 0.5,
):
    """Training images/s of one model built as the trainer builds it (random weights, random batch on the device).

    Args:
        name: Model name for :func:`mammo_utils.modeling.models.build_model`.
        size: (H, W) input.
        batch: Batch size.
        steps: Timed steps.
        warmup: Untimed steps first (graph tracing / compilation).
        precision: Keras dtype policy while building and training (``float32``, ``mixed_float16``…).
        augment_strength: In-model augmentation (0.5 as the trainer uses; 0 to compare bare architectures).

    Returns:
        ``(model, images per second)``.
    """
    import keras

    from mammo_utils.modeling.models import build_model

    keras.mixed_precision.set_global_policy(precision)
    try:
        model = build_model(name, size, weights=None, augment_strength=augment_strength)
        model.compile(
            optimizer=keras.optimizers.AdamW(1e-4), loss="binary_crossentropy"
        )  # the trainer's bce, without importing the data pipeline
    finally:
        keras.mixed_precision.set_global_policy("float32")
    rng = np.random.default_rng(0)
    x = rng.random((batch, *size, 1), dtype=np.float32)
    y = (rng.random((batch, 1)) < 0.5).astype(np.float32)
    if keras.backend.backend() == "jax":
        import jax

        x, y = jax.device_put(x), jax.device_put(y)
    for _ in range(warmup):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(x, y)
    float(np.asarray(loss))  # the loss is on the host: every step has finished
    return model, steps * batch / (time.perf_counter() - start)


def time_model(name: str, size: tuple[int, int], batch: int, steps: int, warmup: int) -> dict:
    """Train and inference speed of one model.

    Args:
        name: Model name for :func:`mammo_utils.modeling.models.build_model`.
        size: (H, W) input.
        batch: Batch size.
        steps: Timed steps.
        warmup: Untimed steps first (graph tracing).

    Returns:
        ``{"model", "params", "train img/s", "infer ms/img"}``.
    """
    from mammo_utils.evaluation.evaluate import inference_ms

    model, train_ips = train_images_per_s(name, size, batch, steps, warmup)
    infer_ms = inference_ms(model, size, batch_size=batch, repeats=steps)
    return {"model": name, "params": model.count_params(), "train img/s": train_ips, "infer ms/img": infer_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="512x256", help="HxW input")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    args = parser.parse_args()

    import keras

    from mammo_utils.config import parse_size

    size = parse_size(args.size)
    print(
        f"keras {keras.__version__} ({keras.backend.backend()}), input {size[0]}x{size[1]}x1, batch {args.batch}, "
        f"{args.steps} timed steps after {args.warmup} warm-up"
    )
    rows = [time_model(name, size, args.batch, args.steps, args.warmup) for name in args.models]
    base = next((r for r in rows if r["model"] == "baseline"), rows[0])
    print(f"{'model':<16}{'params (M)':>11}{'train img/s':>13}{'x baseline':>11}{'infer ms/img':>14}{'x baseline':>11}")
    for r in rows:
        print(
            f"{r['model']:<16}{r['params'] / 1e6:>11.2f}{r['train img/s']:>13.1f}"
            f"{r['train img/s'] / base['train img/s']:>11.2f}"
            f"{r['infer ms/img']:>14.1f}{r['infer ms/img'] / base['infer ms/img']:>11.2f}"
        )


if __name__ == "__main__":
    main()
