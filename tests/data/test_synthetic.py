"""The embedded dataset generator: layout, DICOM validity, lesions, determinism, bad input."""

from __future__ import annotations

import filecmp
import subprocess
import sys

import numpy as np
import pandas as pd
import pydicom
import pytest

from mammo_utils import constants as C
from mammo_utils.data.synthetic import MACHINES, GeneratorError, generate_dataset, make_metadata
from mammo_utils.data.synthetic_render import _draw_lesion, render_mammogram


def test_train_csv_has_rsna_columns_and_plausible_values(synth_root):
    df = pd.read_csv(synth_root / "train.csv")
    assert tuple(df.columns) == C.RSNA_COLUMNS
    per_patient = df.groupby("patient_id")
    assert (per_patient.size() >= 4).all()
    for _, g in per_patient:
        assert {(l, v) for l, v in zip(g.laterality, g.view)} >= {(l, v) for l in "LR" for v in ("CC", "MLO")}
        assert g.age.nunique(dropna=False) == 1 and g.site_id.nunique() == 1
    # cancer is a breast label: identical across the views of one breast, biopsy whenever cancer
    assert (df.groupby(["patient_id", "laterality"]).cancer.nunique() == 1).all()
    assert ((df.cancer == 0) | (df.biopsy == 1)).all() and ((df.invasive == 0) | (df.cancer == 1)).all()
    assert set(df.site_id) <= {1, 2} and df.image_id.is_unique
    assert df[df.site_id == 2].density.isna().all()


def test_metadata_calibrated_on_rsna_at_scale():
    df = make_metadata(3000, prevalence=0.021, seed=0)
    breasts = df.groupby(["patient_id", "laterality"]).cancer.max()
    assert abs(breasts.mean() - 0.021) < 0.003
    assert 0.5 < (df.site_id == 1).mean() < 0.58
    assert 0.6 < (df.groupby("patient_id").size() == 4).mean() < 0.78
    assert 0.01 < df.implant.mean() < 0.05
    assert df.age.isna().any() and df.BIRADS.isna().any()
    assert set(df.view) > {"CC", "MLO"}  # rare extra views occur


def test_every_transfer_syntax_decodes_and_monochrome1_present(synth_root):
    df = pd.read_csv(synth_root / "train.csv")
    seen = {}
    for r in df.itertuples():
        ds = pydicom.dcmread(synth_root / "train_images" / str(r.patient_id) / f"{r.image_id}.dcm")
        assert ds.SOPClassUID == C.DIGITAL_MAMMOGRAPHY_PRESENTATION_SOP
        assert ds.ImageLaterality == r.laterality and ds.ViewPosition == r.view
        assert "PatientName" not in ds and "PatientBirthDate" not in ds
        arr = ds.pixel_array
        assert arr.shape == (256, 208) and arr.max() <= 2**ds.BitsStored - 1 and arr.max() > arr.min()
        seen.setdefault(str(ds.file_meta.TransferSyntaxUID), set()).add(ds.PhotometricInterpretation)
    assert set(seen) == {C.JPEG2000_LOSSLESS, C.JPEG_LOSSLESS_SV1, C.EXPLICIT_VR_LITTLE_ENDIAN}
    assert C.MONOCHROME1 in set().union(*seen.values())


def test_lesion_pixels_stay_inside_their_box():
    rng = np.random.default_rng(0)
    for kind in C.LESION_TYPES:
        image = np.zeros((400, 320), np.float32)
        allowed = np.zeros_like(image, bool)
        allowed[60:340, 40:280] = True
        lesion = _draw_lesion(rng, image, allowed, kind)
        ys, xs = np.nonzero(image > 1e-3)
        assert len(xs) > 0
        assert xs.min() >= lesion.x_min and xs.max() < lesion.x_max
        assert ys.min() >= lesion.y_min and ys.max() < lesion.y_max
        assert allowed[lesion.y_min : lesion.y_max, lesion.x_min : lesion.x_max].all()


@pytest.mark.parametrize("laterality", ["L", "R"])
def test_lesions_inside_breast_and_labels_outside(laterality):
    for seed in range(6):
        r = render_mammogram(np.random.default_rng(seed), 256, 208, laterality, "MLO", "C", False, "mass")
        (lesion,) = r.lesions
        cx, cy = (lesion.x_min + lesion.x_max) // 2, (lesion.y_min + lesion.y_max) // 2
        assert r.breast_mask[cy, cx]
        assert r.label_mask.any() and not (r.label_mask & r.breast_mask).any()
        # chest wall on the side named by the laterality, as in real RSNA files
        left, right = r.breast_mask[:, :104].sum(), r.breast_mask[:, 104:].sum()
        assert (left > right) == (laterality == "L")


def test_lesions_are_brighter_than_surrounding_tissue(synth_root):
    from mammo_utils.data.dicom import read_dicom

    df = pd.read_csv(synth_root / "train.csv").set_index("image_id")
    boxes = pd.read_csv(synth_root / "boxes.csv")
    assert len(boxes) > 0 and set(boxes.label) <= set(C.LESION_TYPES)
    assert set(boxes.image_id) <= set(df.index[df.cancer == 1])
    contrasts = []
    for b in boxes.itertuples():
        r = df.loc[b.image_id]
        img = read_dicom(synth_root / "train_images" / str(r.patient_id) / f"{b.image_id}.dcm")
        inside = img[b.y_min : b.y_max, b.x_min : b.x_max]
        ring = img[max(b.y_min - 10, 0) : b.y_max + 10, max(b.x_min - 10, 0) : b.x_max + 10]
        contrasts.append(inside.max() - np.median(ring[ring > 0.2]))
    assert np.median(contrasts) > 0.1


def test_same_seed_gives_byte_identical_output(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    generate_dataset(a, n_patients=3, image_size=(128, 104), seed=7, workers=1, progress=False)
    generate_dataset(b, n_patients=3, image_size=(128, 104), seed=7, workers=2, progress=False)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) >= 14
    _, mismatch, errors = filecmp.cmpfiles(a, b, [str(f) for f in files], shallow=False)
    assert mismatch == [] and errors == []
    c = tmp_path / "c"
    generate_dataset(c, n_patients=3, image_size=(128, 104), seed=8, workers=1, progress=False)
    assert (a / "train.csv").read_bytes() != (c / "train.csv").read_bytes()


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"n_patients": -1}, "--patients"),
        ({"n_patients": 0}, "--patients"),
        ({"prevalence": 1.5}, "--prevalence"),
        ({"prevalence": -0.1}, "--prevalence"),
        ({"image_size": (32, 32)}, "--image-size"),
    ],
)
def test_bad_parameters_are_rejected_by_name(tmp_path, kwargs, word):
    with pytest.raises(GeneratorError, match=word):
        generate_dataset(tmp_path / "x", **kwargs)


def test_unwritable_output_and_cli_errors_are_clear(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(GeneratorError, match="not writable"):
        generate_dataset(blocker / "sub", n_patients=1)
    proc = subprocess.run(
        [sys.executable, "-m", "mammo_utils", "synth", "--out", str(tmp_path / "o"), "--prevalence", "2"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "prevalence" in proc.stderr and "Traceback" not in proc.stderr


def test_machines_cover_the_codecs_and_photometrics():
    assert {m.transfer_syntax for m in MACHINES} == {
        C.JPEG2000_LOSSLESS,
        C.JPEG_LOSSLESS_SV1,
        C.EXPLICIT_VR_LITTLE_ENDIAN,
    }
    assert {m.voi_function for m in MACHINES} == {"LINEAR", "SIGMOID"}
    assert {m.bits_stored for m in MACHINES} >= {10, 12, 14, 16}


def test_a_population_can_exclude_another_ones_patients():
    from mammo_utils.data.synthetic import make_metadata

    target = make_metadata(300, prevalence=0.25, seed=0)
    same_draw = make_metadata(300, prevalence=0.25, seed=0, exclude_patients=())
    assert target.equals(same_draw)  # no exclusion: the embedded set's draw is unchanged
    source = make_metadata(300, prevalence=0.25, seed=1000, exclude_patients=target.patient_id.unique())
    assert not set(source.patient_id) & set(target.patient_id) and source.patient_id.nunique() == 300
