"""Benchmark: Keras against PyTorch/timm training speed, same architecture, input size and batch.

For each of ResNet50 and EfficientNet-B0, in one run, it times training images/s of:

- Keras: the repo's model (``mammo_utils.modeling.models.build_model``: grey input, in-graph ImageNet preprocessing,
  max-pool head, no augmentation), mixed precision, on the active Keras backend;
- PyTorch: the same architecture from timm (one input channel, one output), AMP autocast + GradScaler,
  channels-last memory format.

Then it prints the Keras/PyTorch ratio (target >= 0.8). Batches are random and live on the device, so this
measures the training step, not the input pipeline. Where TensorFlow is absent (GPU machines with JAX and
PyTorch), run Keras on JAX::

    KERAS_BACKEND=jax python benchmarks/bench_train_gpu.py --size 1024x512 --batch 16

It also runs on a CPU with a small ``--size`` as a smoke check (CPU figures say nothing about GPUs).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PAIRS = {"resnet50": "resnet50", "efficientnetb0": "efficientnet_b0"}


def keras_images_per_s(name: str, size: tuple[int, int], batch: int, steps: int, warmup: int, precision: str) -> float:
    """Training images/s of the repo's Keras model (no augmentation) on the active backend.

    Args:
        name: ``resnet50`` or ``efficientnetb0``.
        size: (H, W).
        batch: Batch size.
        steps: Timed steps.
        warmup: Untimed steps first (compilation).
        precision: Keras dtype policy (``mixed_float16``, ``mixed_bfloat16`` or ``float32``).

    Returns:
        Images per second.
    """
    from bench_train import train_images_per_s

    return train_images_per_s(name, size, batch, steps, warmup, precision=precision, augment_strength=0.0)[1]


def torch_images_per_s(name: str, size: tuple[int, int], batch: int, steps: int, warmup: int, amp: bool) -> float:
    """Training images/s of the timm model with AMP and channels-last (CUDA when available).

    Args:
        name: timm model name.
        size: (H, W).
        batch: Batch size.
        steps: Timed steps.
        warmup: Untimed steps first.
        amp: Use float16 autocast with a GradScaler (CUDA only).

    Returns:
        Images per second.
    """
    import timm
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    amp = amp and device == "cuda"
    model = timm.create_model(name, pretrained=False, num_classes=1, in_chans=1).to(device)
    model = model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(device, enabled=amp)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    x = torch.rand(batch, 1, *size, device=device).to(memory_format=torch.channels_last)
    y = (torch.rand(batch, 1, device=device) < 0.5).float()

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=torch.float16, enabled=amp):
            loss = loss_fn(model(x).float(), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    for _ in range(warmup):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1024x512", help="HxW input")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--precision", default="mixed_float16", help="Keras dtype policy")
    parser.add_argument("--models", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    args = parser.parse_args()

    import keras
    import torch

    from mammo_utils.config import parse_size

    size = parse_size(args.size)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU (smoke check only)"
    print(f"keras {keras.__version__} on {keras.backend.backend()} | torch {torch.__version__} | {gpu}")
    print(
        f"input {size[0]}x{size[1]}, batch {args.batch}, {args.steps} timed steps after {args.warmup}; "
        f"keras policy {args.precision}, torch AMP float16 + channels-last"
    )
    print(f"{'model':<16}{'keras img/s':>13}{'torch img/s':>13}{'keras/torch':>13}")
    for name in args.models:
        k = keras_images_per_s(name, size, args.batch, args.steps, args.warmup, args.precision)
        t = torch_images_per_s(PAIRS[name], size, args.batch, args.steps, args.warmup, amp=True)
        print(f"{name:<16}{k:>13.1f}{t:>13.1f}{k / t:>13.2f}")
    print("target: keras/torch >= 0.80")


if __name__ == "__main__":
    main()
