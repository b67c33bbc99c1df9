"""Shared fixtures: tiny synthetic RSNA-layout datasets generated once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parent.parent
REAL_RSNA = REPO.parent / "shared" / "real-rsna"


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A small synthetic dataset (12 patients, 256x208 px, half the breasts with cancer)."""
    from mammo_utils.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root, n_patients=12, image_size=(256, 208), prevalence=0.5, seed=3, workers=2, progress=False)
    return root


@pytest.fixture(scope="session")
def real_rsna() -> Path:
    """The five real RSNA DICOMs beside the repository (skips, saying so, when absent)."""
    if not (REAL_RSNA / "train_images").is_dir():
        pytest.skip(f"real RSNA sample not found at {REAL_RSNA} (see shared/real-rsna/README.md)")
    return REAL_RSNA


@pytest.fixture(scope="session")
def synth_cache(synth_root, tmp_path_factory):
    """The synthetic set cached at 128x64, 16-bit: (cache folder, train frame)."""
    from mammo_utils.data.preprocess import preprocess_dataset
    from mammo_utils.data.rsna import load_train

    cache, _ = preprocess_dataset(
        synth_root, tmp_path_factory.mktemp("cache"), (128, 64), 16, workers=2, progress=False
    )
    return cache, load_train(synth_root)
