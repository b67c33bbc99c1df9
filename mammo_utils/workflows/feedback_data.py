"""Labelled production feedback as training data: the images the service kept, imported into a model's cache.

The service records, with each prediction, the image the model scored (the breast's crop at the export's cache size,
a PNG without any DICOM header; ``MAMMO_KEEP_IMAGES``). Once a prediction is labelled (``POST /v1/feedback``, with
corrections as an audit trail), :func:`import_feedback` writes its image into the challenger's cache under
``imported/`` and returns one training row per image, with its current label:

- only the **training** split grows: the rows carry ``split = "train"`` and never enter validation, test or the
  gate split, so the gate still compares champion and challenger on patients neither selected on;
- ids are negative (``patient_id = image_id = -<48-bit hash of the request id>``), so they cannot collide with
  dataset ids; each prediction is its own patient group (the store keeps no patient key);
- only images at the challenger's cache size and bit depth are used (the others are counted, not resized);
- the provenance (store, request ids, label ids and sources, corrections, the SHA-256 of every imported PNG and of
  the row table) is returned for the training run and the retraining decision to record.

Example:
    >>> rows, provenance = import_feedback(store, cache_dir, (256, 128), 8)  # doctest: +SKIP
    >>> provenance["images"], provenance["positives"]  # doctest: +SKIP
    (40, 9)
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pandas as pd

from ..data.pipeline import IMPORTED_MANIFEST
from ..monitoring.store import Store
from ..utils import to_json, write_atomic

#: ``site_id`` / ``machine_id`` of imported feedback rows (no dataset site or machine is 0).
FEEDBACK_SITE = 0


def feedback_id(request_id: str) -> int:
    """The negative patient and image id of a feedback image (48 bits of the request id's SHA-256).

    Example:
        >>> feedback_id("r1") < 0
        True
    """
    return -int(hashlib.sha256(request_id.encode()).hexdigest()[:12], 16)


def import_feedback(
    store: Store, cache_dir: str | Path, cache_size: tuple[int, int], cache_bits: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Write the labelled feedback images of one cache geometry into a cache and return their training rows.

    Args:
        store: The prediction store (:func:`mammo_utils.monitoring.store.open_store`).
        cache_dir: The challenger's cache folder (its images go to ``imported/``, listed in
            :data:`~mammo_utils.data.pipeline.IMPORTED_MANIFEST`, which :func:`~mammo_utils.data.pipeline.cache_paths`
            reads beside the cache's own manifest).
        cache_size: The challenger's ``(height, width)`` cache size.
        cache_bits: Its cache bit depth.

    Returns:
        ``(rows, provenance)``: rows with ``patient_id, image_id, laterality, view, cancer, site_id, machine_id,
        split, fold, source, request_id, label_id`` (empty when nothing is labelled at this geometry);
        provenance with ``store``, ``imported_at``, ``cache``, ``images``, ``positives``, ``requests``
        (``request_id``, ``label``, ``label_id``, ``label_source``, ``corrections``, ``png_sha256`` each),
        ``label_sources``, ``other_geometries`` (kept images of another size, not used) and ``rows_sha256``.
    """
    cache_dir = Path(cache_dir)
    height, width = (int(v) for v in cache_size)
    frame = store.training_images(height, width, int(cache_bits))
    records, manifest = [], []
    for row in frame.itertuples(index=False):
        image_id = feedback_id(row.request_id)
        rel = f"imported/feedback_{row.request_id}.png"
        path = cache_dir / rel
        if not path.is_file() or path.read_bytes() != row.png:
            write_atomic(path, row.png)
        manifest.append({"image_id": image_id, "status": "ok", "png": rel})
        records.append(
            {
                "patient_id": image_id, "image_id": image_id, "laterality": row.laterality or "",
                "view": row.view or "", "cancer": int(row.label), "site_id": FEEDBACK_SITE,
                "machine_id": FEEDBACK_SITE, "split": "train", "fold": -1, "source": "feedback",
                "request_id": row.request_id, "label_id": int(row.label_id),
                "label_source": row.label_source, "corrections": int(row.corrections),
                "png_sha256": hashlib.sha256(row.png).hexdigest(),
            }
        )  # fmt: skip
    columns = ["patient_id", "image_id", "laterality", "view", "cancer", "site_id", "machine_id", "split", "fold"]
    columns += ["source", "request_id", "label_id"]
    rows = pd.DataFrame(records, columns=[*columns, "label_source", "corrections", "png_sha256"])
    write_atomic(
        cache_dir / IMPORTED_MANIFEST,
        pd.DataFrame(manifest, columns=["image_id", "status", "png"]).to_csv(index=False).encode(),
    )
    counts = store.image_counts()
    other = counts[(counts.height != height) | (counts.width != width) | (counts.bits != int(cache_bits))]
    table = rows[["request_id", "cancer", "label_id", "label_source", "corrections", "png_sha256"]]
    provenance = {
        "store": store.url,
        "imported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cache": {"height": height, "width": width, "bits": int(cache_bits)},
        "images": len(rows),
        "positives": int(rows.cancer.sum()),
        "requests": table.rename(columns={"cancer": "label"}).to_dict("records"),
        "label_sources": {str(k): int(v) for k, v in rows.label_source.value_counts().items()},
        "other_geometries": other.to_dict("records"),
        "rows_sha256": hashlib.sha256(to_json(table.to_dict("records")).encode()).hexdigest(),
    }
    return rows[columns], provenance
