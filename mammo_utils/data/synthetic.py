# Size: the dataset's metadata, DICOM writing and its file layout are one recipe (pixels: synthetic_render).
"""Embedded default dataset: synthetic mammograms in the exact RSNA layout.

``generate_dataset`` writes ``train.csv`` (all RSNA columns), ``boxes.csv`` (lesion
boxes for detection work) and ``train_images/<patient_id>/<image_id>.dcm`` as valid
Digital Mammography DICOM files. Metadata are calibrated on the real RSNA
``train.csv`` (two sites, their machines, age, density, BI-RADS, implants, extra
views, images per patient). Machines differ the way real ones do: photometric
interpretation, bits stored, VOI LUT function, windows and transfer syntax.

Same arguments -> byte-identical output. The only identifiers are synthetic ids.

CLI::

    mammo synth --out data/rsna-synthetic --patients 200 --set seed=0
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from .. import constants as C
from ..config import Config, embedded_data_root, is_rsna_root
from ..utils import to_json, write_atomic, write_csv_atomic
from .rsna import image_path
from .synthetic_render import render_mammogram


@dataclasses.dataclass(frozen=True)
class Machine:
    """Acquisition settings of one (synthetic) mammography unit."""

    site_id: int
    machine_id: int
    share: float
    photometric: str
    bits_stored: int
    transfer_syntax: str
    voi_function: str = "LINEAR"
    n_windows: int = 1
    padding: bool = False


#: Machines by site with their share of the site's images (real RSNA proportions);
#: codecs follow the real sites (site 1 JPEG lossless, site 2 JPEG 2000) except two
#: site-1 machines kept uncompressed so every transfer syntax is exercised.
MACHINES: tuple[Machine, ...] = (
    Machine(1, 49, 0.80, C.MONOCHROME2, 12, C.JPEG_LOSSLESS_SV1),
    Machine(1, 93, 0.065, C.MONOCHROME1, 14, C.JPEG_LOSSLESS_SV1),
    Machine(1, 216, 0.065, C.MONOCHROME2, 10, C.EXPLICIT_VR_LITTLE_ENDIAN),
    Machine(1, 210, 0.036, C.MONOCHROME2, 12, C.JPEG_LOSSLESS_SV1),
    Machine(1, 170, 0.031, C.MONOCHROME2, 12, C.EXPLICIT_VR_LITTLE_ENDIAN),
    Machine(1, 190, 0.003, C.MONOCHROME2, 14, C.JPEG_LOSSLESS_SV1),
    Machine(2, 48, 0.345, C.MONOCHROME2, 14, C.JPEG2000_LOSSLESS),
    Machine(2, 29, 0.328, C.MONOCHROME1, 16, C.JPEG2000_LOSSLESS, "SIGMOID", 4, True),
    Machine(2, 21, 0.327, C.MONOCHROME2, 12, C.JPEG2000_LOSSLESS),
)
SITE_SHARE = {1: 0.54, 2: 0.46}
#: Images per patient beyond the four standard views (real: 69% have exactly 4).
EXTRA_IMAGES = {0: 0.69, 1: 0.15, 2: 0.10, 3: 0.04, 4: 0.02}
DENSITY_SHARE_SITE1 = {"A": 0.10, "B": 0.43, "C": 0.41, "D": 0.05, "": 0.01}
BIRADS_SHARE = {1: {"1": 0.53, "0": 0.19, "2": 0.08, "": 0.20}, 2: {"0": 0.10, "": 0.90}}
IMPLANT_RATE = 0.027
AGE_MISSING_RATE = 0.01
INVASIVE_GIVEN_CANCER = 0.7
BIOPSY_GIVEN_NEGATIVE = 0.035
DIFFICULT_NEGATIVE_RATE = 0.14
LESION_SHARE = {"mass": 0.45, "spiculated_mass": 0.25, "calcification_cluster": 0.3}
UID_ROOT = "1.2.826.0.1.3680043.10.1417."


class GeneratorError(ValueError):
    """A generator parameter is invalid (the message names it)."""


def _choice(rng: np.random.Generator, shares: dict):
    keys = list(shares)
    p = np.array([shares[k] for k in keys], float)
    return keys[rng.choice(len(keys), p=p / p.sum())]


def make_metadata(n_patients: int, prevalence: float, seed: int, exclude_patients=()) -> pd.DataFrame:
    """Sample the ``train.csv`` rows plus rendering columns (``lesion_type``).

    Args:
        n_patients: Number of patients.
        prevalence: Share of breasts with cancer (RSNA: 0.021).
        seed: Random seed.
        exclude_patients: Patient ids that must not be drawn (e.g. another population's, so two sets are disjoint).

    Returns:
        One row per image with every RSNA column and ``lesion_type`` (None for no lesion).
    """
    rng = np.random.default_rng([seed, 1])
    if len(exclude_patients):
        pool = np.setdiff1d(np.arange(10000, 65535), np.asarray(list(exclude_patients), int))
        patient_ids = rng.choice(pool, size=n_patients, replace=False)
    else:  # the original draw, so the embedded dataset stays byte-identical
        patient_ids = 10000 + rng.choice(55535, size=n_patients, replace=False)
    n_breasts = 2 * n_patients
    n_cancer = int(round(prevalence * n_breasts))
    order = rng.permutation(n_breasts)
    # one cancer breast per patient first (as in screening), both breasts only when prevalence demands it
    first = [b for b in order if b % 2 == 0] + [b for b in order if b % 2 == 1]
    cancer_breasts = set(first[:n_cancer])
    image_ids = 10**6 + rng.choice(2**31 - 1 - 10**6, size=n_patients * 10, replace=False)
    rows, next_image = [], 0
    machine_p = np.array([SITE_SHARE[m.site_id] * m.share for m in MACHINES])
    machine_p /= machine_p.sum()
    forced = rng.permutation(len(MACHINES))
    for p_index, patient_id in enumerate(patient_ids):
        # the first patients cover every machine once (so small sets mix all codecs), the rest follow RSNA shares
        machine = (
            MACHINES[forced[p_index]] if p_index < len(forced) else MACHINES[rng.choice(len(MACHINES), p=machine_p)]
        )
        site = machine.site_id
        age = None if rng.random() < AGE_MISSING_RATE else int(np.clip(round(rng.normal(58.5, 10.0)), 26, 89))
        density = _choice(rng, DENSITY_SHARE_SITE1) if site == 1 else ""
        implant = int(rng.random() < IMPLANT_RATE)
        views = [(lat, v) for lat in C.LATERALITIES for v in C.STANDARD_VIEWS]
        for _ in range(_choice(rng, EXTRA_IMAGES)):
            lat = C.LATERALITIES[rng.integers(2)]
            view = (
                C.EXTRA_VIEWS[rng.integers(len(C.EXTRA_VIEWS))]
                if rng.random() < 0.05
                else C.STANDARD_VIEWS[rng.integers(2)]
            )
            views.append((lat, view))
        breast_info = {}
        for lat_index, lat in enumerate(C.LATERALITIES):
            cancer = int(2 * p_index + lat_index in cancer_breasts)
            biopsy = 1 if cancer else int(rng.random() < BIOPSY_GIVEN_NEGATIVE)
            birads = "0" if cancer and rng.random() < 0.8 and site == 1 else _choice(rng, BIRADS_SHARE[site])
            if cancer and birads == "1":
                birads = "0"
            difficult = (not cancer) and (biopsy == 1 or birads == "0" or rng.random() < DIFFICULT_NEGATIVE_RATE / 2)
            breast_info[lat] = dict(
                cancer=cancer,
                biopsy=biopsy,
                invasive=int(cancer and rng.random() < INVASIVE_GIVEN_CANCER),
                BIRADS=birads,
                difficult=bool(difficult),
                lesion=_choice(rng, LESION_SHARE) if cancer else None,
            )
        for lat, view in sorted(
            views, key=lambda lv: (lv[0], C.STANDARD_VIEWS.index(lv[1]) if lv[1] in C.STANDARD_VIEWS else 2)
        ):
            info = breast_info[lat]
            rows.append(
                {
                    "site_id": site,
                    "patient_id": int(patient_id),
                    "image_id": int(image_ids[next_image]),
                    "laterality": lat,
                    "view": view,
                    "age": age,
                    "cancer": info["cancer"],
                    "biopsy": info["biopsy"],
                    "invasive": info["invasive"],
                    "BIRADS": info["BIRADS"],
                    "implant": implant,
                    "density": density,
                    "machine_id": machine.machine_id,
                    "difficult_negative_case": info["difficult"],
                    "lesion_type": info["lesion"],
                }
            )
            next_image += 1
    df = pd.DataFrame(rows)
    df["age"] = df["age"].astype("Float64")
    df["BIRADS"] = pd.to_numeric(df["BIRADS"].replace("", None)).astype("Float64")
    df["density"] = df["density"].replace("", None)
    return df


def _machine(machine_id: int) -> Machine:
    return next(m for m in MACHINES if m.machine_id == machine_id)


def _uid(*parts: int) -> str:
    return UID_ROOT + ".".join(str(int(p)) for p in parts)


def to_stored_pixels(image: np.ndarray, machine: Machine) -> tuple[np.ndarray, dict]:
    """Map display intensity in [0, 1] to stored pixel values and the VOI tags that undo it.

    Args:
        image: float display image (bright = dense).
        machine: Acquisition settings.

    Returns:
        ``(pixels uint16, tags)`` where ``tags`` holds WindowCenter/Width, VOILUTFunction and,
        for padded machines, PixelPaddingValue.
    """
    top = 2**machine.bits_stored - 1
    offset, span = 0.02 * top, 0.9 * top
    raw = offset + image.astype(np.float64) * span
    center, width = offset + 0.5 * span, span
    if machine.voi_function == "SIGMOID":
        width = 0.45 * span
    stored = np.clip(np.round(raw), 0, top)
    if machine.photometric == C.MONOCHROME1:
        stored = top - stored
        center = top - center
    tags = {"VOILUTFunction": machine.voi_function}
    centers = [center + k * 0.1 * span * (-1) ** k for k in range(machine.n_windows)]
    tags["WindowCenter"] = [round(c, 2) for c in centers] if machine.n_windows > 1 else round(center, 2)
    tags["WindowWidth"] = [round(width, 2)] * machine.n_windows if machine.n_windows > 1 else round(width, 2)
    if machine.padding:
        background = image <= 0.02
        pad = top if machine.photometric == C.MONOCHROME1 else 0
        stored[background] = pad
        tags["PixelPaddingValue"] = pad
    return stored.astype(np.uint16), tags


def write_dicom(path: Path, pixels: np.ndarray, machine: Machine, row: dict, tags: dict) -> None:
    """Write one Digital Mammography (For Presentation) DICOM file atomically.

    Args:
        path: Output ``.dcm`` path.
        pixels: uint16 stored values.
        machine: Acquisition settings (photometric, bits, transfer syntax).
        row: The image's metadata row (patient_id, image_id, laterality, view).
        tags: VOI tags from :func:`to_stored_pixels`.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import UID

    sop_uid = _uid(row["patient_id"], row["image_id"])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = C.DIGITAL_MAMMOGRAPHY_PRESENTATION_SOP
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = UID(machine.transfer_syntax)
    meta.ImplementationClassUID = UID_ROOT + "0"
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = C.DIGITAL_MAMMOGRAPHY_PRESENTATION_SOP
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = _uid(row["patient_id"], 1)
    ds.SeriesInstanceUID = _uid(row["patient_id"], 2, row["image_id"] % 1000)
    ds.Modality = "MG"
    ds.PatientID = str(row["patient_id"])
    ds.Manufacturer = f"SYNTHETIC site {machine.site_id}"
    ds.ManufacturerModelName = f"synthetic-{machine.machine_id}"
    ds.BodyPartExamined = "BREAST"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageLaterality = row["laterality"]
    ds.ViewPosition = row["view"]
    chest_left = row["laterality"] == "L"
    ds.PatientOrientation = ["A" if chest_left else "P", "F" if row["view"] != "CC" else ("R" if chest_left else "L")]
    ds.InstanceNumber = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = machine.photometric
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = machine.bits_stored
    ds.HighBit = machine.bits_stored - 1
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.RescaleType = "US"
    ds.PixelIntensityRelationship = "LOG"
    for key, value in tags.items():
        setattr(ds, key, value)
    ts = machine.transfer_syntax
    if ts == C.JPEG2000_LOSSLESS:
        ds.PixelData = pixels.tobytes()
        ds.file_meta.TransferSyntaxUID = UID(C.EXPLICIT_VR_LITTLE_ENDIAN)
        ds.compress(UID(C.JPEG2000_LOSSLESS), encoding_plugin="pylibjpeg", generate_instance_uid=False)
    elif ts == C.JPEG_LOSSLESS_SV1:
        import imagecodecs

        frame = imagecodecs.ljpeg_encode(pixels, bitspersample=machine.bits_stored)
        ds.PixelData = encapsulate([frame])
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = pixels.tobytes()
        ds["PixelData"].VR = "OW"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    write_atomic(path, buffer.getvalue())


def _render_one(task: tuple) -> list[dict]:
    """Render and write one image (run in worker processes). Returns its lesion boxes."""
    row, out_dir, rows, cols, seed = task
    path = image_path(out_dir, row["patient_id"], row["image_id"])
    rng = np.random.default_rng([seed, 2, row["image_id"]])
    rendering = render_mammogram(
        rng, rows, cols, row["laterality"], row["view"], row["density"] or "", bool(row["implant"]), row["lesion_type"]
    )
    machine = _machine(row["machine_id"])
    if not path.exists():
        pixels, tags = to_stored_pixels(rendering.image, machine)
        write_dicom(path, pixels, machine, row, tags)
    return [
        {
            "image_id": row["image_id"],
            "x_min": l.x_min,
            "y_min": l.y_min,
            "x_max": l.x_max,
            "y_max": l.y_max,
            "label": l.label,
        }
        for l in rendering.lesions
    ]


def _validate(out: Path, n_patients: int, prevalence: float, image_size: tuple[int, int], workers: int) -> None:
    if not isinstance(n_patients, (int, np.integer)) or not 1 <= n_patients <= 55535:
        raise GeneratorError(f"--patients must be an integer in [1, 55535], got {n_patients!r}")
    if not 0.0 <= float(prevalence) <= 1.0:
        raise GeneratorError(f"--prevalence must be in [0, 1], got {prevalence!r}")
    if len(image_size) != 2 or min(image_size) < 64:
        raise GeneratorError(f"--image-size must be at least 64x64 (rows x columns), got {image_size!r}")
    if workers < 1:
        raise GeneratorError(f"--workers must be >= 1, got {workers!r}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise GeneratorError(f"--out {str(out)!r} is not writable: {exc.strerror or exc}") from None


def generate_dataset(
    out: str | Path,
    n_patients: int = 120,
    image_size: tuple[int, int] = (512, 416),
    prevalence: float = 0.25,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    exclude_patients=(),
) -> pd.DataFrame:
    """Generate the synthetic RSNA-layout dataset (resumable: existing images are kept).

    Args:
        out: Output folder (created).
        n_patients: Number of patients (each has >= 4 images).
        image_size: (rows, columns) of every image; real RSNA is about 4096x3328.
        prevalence: Share of breasts with cancer; 0.021 matches RSNA.
        seed: Random seed; the same arguments give byte-identical files.
        workers: Worker processes.
        progress: Show a progress bar.
        exclude_patients: Patient ids not to use (a population disjoint from another one).

    Returns:
        The ``train.csv`` dataframe that was written.

    Raises:
        GeneratorError: For invalid parameters or an unwritable output folder.

    Example:
        >>> df = generate_dataset("/tmp/synth", n_patients=2, image_size=(128, 104))  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    out = Path(out)
    _validate(out, n_patients, prevalence, tuple(image_size), workers)
    rows_px, cols_px = (int(v) for v in image_size)
    params = {
        "n_patients": int(n_patients),
        "image_size": [rows_px, cols_px],
        "prevalence": float(prevalence),
        "seed": int(seed),
    }
    params_path = out / "synthetic_params.json"
    if params_path.exists() and json.loads(params_path.read_text()) != params:
        raise GeneratorError(
            f"--out {str(out)!r} already holds a synthetic dataset made with other parameters "
            f"({params_path.read_text().strip()}); choose an empty folder"
        )
    write_atomic(params_path, (to_json(params, sort_keys=True) + "\n").encode())
    meta = make_metadata(int(n_patients), float(prevalence), int(seed), exclude_patients)
    records = meta.astype(object).where(meta.notna(), None).to_dict("records")
    tasks = [(r, str(out), rows_px, cols_px, int(seed)) for r in records]
    boxes: list[dict] = []
    bar = tqdm(total=len(tasks), desc="synthetic DICOMs", unit="img", disable=not progress)
    if workers == 1:
        for task in tasks:
            boxes.extend(_render_one(task))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(_render_one, tasks, chunksize=4):
                boxes.extend(result)
                bar.update()
    bar.close()
    train = meta.drop(columns=["lesion_type"])
    write_csv_atomic(train, out / "train.csv", lineterminator="\n")
    write_csv_atomic(pd.DataFrame(boxes, columns=list(C.BOX_COLUMNS)), out / "boxes.csv", lineterminator="\n")
    return train


def ensure_dataset(cfg: Config, progress: bool = True) -> Path:
    """Make sure ``cfg.data_root`` holds a dataset, generating the embedded one when it is missing.

    Args:
        cfg: Configuration (``data_root``, ``synthetic_*`` settings, ``seed``, ``workers``).
        progress: Show the generator's progress bar.

    Returns:
        ``cfg.data_root``.

    Raises:
        GeneratorError: ``data_root`` has no ``train.csv`` and is not the embedded dataset's folder.
    """
    root = Path(cfg.data_root)
    if is_rsna_root(root):
        return root
    if root.resolve() != embedded_data_root().resolve():
        raise GeneratorError(f"{root}: no train.csv; a data root needs train.csv and train_images/")
    logging.getLogger(__name__).info("embedded dataset missing: generating it under %s", root)
    generate_dataset(
        root,
        n_patients=cfg.synthetic_patients,
        image_size=cfg.synthetic_image_size,
        prevalence=cfg.synthetic_prevalence,
        seed=cfg.split_seed,
        workers=os.cpu_count() or 1,
        progress=progress,
    )
    return root
