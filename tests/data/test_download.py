"""``mammo download``: credentials first, resumable transfers, verified archives, layout counted against train.csv.

The network is replaced at the client boundary only: a stand-in Kaggle API client that serves files from a
folder (and zips some, as Kaggle does), and ``httpx.MockTransport`` for the mirror, which honours Range requests.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import httpx
import pandas as pd
import pytest

from mammo_utils.cli import main
from mammo_utils.data.download import (
    CredentialsError,
    DownloadError,
    check_layout,
    choose_patients,
    download,
    kaggle_credentials,
)


class FolderKaggleClient:
    """The Kaggle client's ``competition_download_file`` over a local folder; zips DICOMs like the service."""

    def __init__(self, root: Path, zip_dicoms: bool = True):
        self.root, self.zip_dicoms, self.calls = root, zip_dicoms, []

    def competition_download_file(self, competition, file_name, path=None, force=False, quiet=False):
        self.calls.append(file_name)
        src = self.root / file_name
        if not src.is_file():
            raise RuntimeError(f"404 {file_name}")
        dest = Path(path)
        if self.zip_dicoms and file_name.endswith(".dcm"):
            with zipfile.ZipFile(dest / f"{src.name}.zip", "w") as zf:
                zf.write(src, src.name)
        else:
            shutil.copy(src, dest / src.name)


def test_no_credentials_says_where_to_put_the_token(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle"))
    assert main(["download", "--source", "kaggle", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "error: Kaggle credentials not found" in err and str(tmp_path / "kaggle" / "kaggle.json") in err
    assert "Traceback" not in err
    (tmp_path / "kaggle").mkdir()
    (tmp_path / "kaggle" / "kaggle.json").write_text(json.dumps({"username": "u"}))
    with pytest.raises(CredentialsError, match="needs 'username' and 'key'"):
        kaggle_credentials()
    (tmp_path / "kaggle" / "kaggle.json").write_text(json.dumps({"username": "u", "key": "k"}))
    assert kaggle_credentials() == tmp_path / "kaggle" / "kaggle.json"
    assert kaggle_credentials({"KAGGLE_USERNAME": "u", "KAGGLE_KEY": "k"}) is None


def test_kaggle_subset_is_resumable_and_lands_in_the_rsna_layout(synth_root, tmp_path):
    from mammo_utils.config import is_rsna_root

    client = FolderKaggleClient(synth_root)
    out = tmp_path / "rsna"
    report = download("kaggle", out, subset=3, client=client)
    train = pd.read_csv(out / "train.csv")
    assert train.patient_id.nunique() == 3 and report["present"] == len(train) == report["downloaded"]
    assert train.cancer.max() == 1  # the subset keeps at least one cancer patient
    assert is_rsna_root(out) and not list(out.rglob("*.zip")) and not list(out.rglob("*.partial"))
    # a second run downloads nothing
    client.calls.clear()
    again = download("kaggle", out, subset=3, client=client)
    assert again["downloaded"] == 0 and again["skipped"] == len(train) and client.calls == []


def test_corrupt_archive_and_non_dicom_are_refused(synth_root, tmp_path):
    bad_root = tmp_path / "served"
    shutil.copytree(synth_root, bad_root)
    first = pd.read_csv(bad_root / "train.csv").iloc[0]
    (bad_root / "train_images" / str(first.patient_id) / f"{first.image_id}.dcm").write_bytes(
        b"<html>rate limited</html>"
    )
    with pytest.raises(DownloadError, match="not a DICOM"):
        download("kaggle", tmp_path / "out", subset=100, client=FolderKaggleClient(bad_root, zip_dicoms=False))

    class CorruptZip(FolderKaggleClient):
        def competition_download_file(self, competition, file_name, path=None, force=False, quiet=False):
            if file_name.endswith(".dcm"):
                (Path(path) / f"{Path(file_name).name}.zip").write_bytes(b"PK\x03\x04 truncated")
            else:
                super().competition_download_file(competition, file_name, path)

    with pytest.raises(DownloadError, match="not a valid zip archive"):
        download("kaggle", tmp_path / "out2", subset=1, client=CorruptZip(synth_root))


def test_mirror_download_resumes_a_partial_file(synth_root, tmp_path):
    requests = []

    def serve(request: httpx.Request) -> httpx.Response:
        rel = request.url.path.removeprefix("/rsna/")
        path = synth_root / rel
        requests.append((rel, request.headers.get("range")))
        if not path.is_file():
            return httpx.Response(404)
        data = path.read_bytes()
        if request.headers.get("range"):
            start = int(request.headers["range"].split("=")[1].rstrip("-"))
            return httpx.Response(206, content=data[start:])
        return httpx.Response(200, content=data)

    client = httpx.Client(transport=httpx.MockTransport(serve))
    out = tmp_path / "mirror"
    train = pd.read_csv(synth_root / "train.csv")
    pid, iid = train.patient_id.iloc[0], train.image_id.iloc[0]
    half = (synth_root / "train_images" / str(pid) / f"{iid}.dcm").read_bytes()
    target = out / "train_images" / str(pid) / f"{iid}.dcm.partial"
    target.parent.mkdir(parents=True)
    target.write_bytes(half[: len(half) // 2])  # an interrupted earlier run
    report = download("url", out, url="https://mirror.example/rsna", client=client)
    assert report["n_missing"] == 0 and report["present"] == len(train)
    assert (out / "train_images" / str(pid) / f"{iid}.dcm").read_bytes() == half
    assert (f"train_images/{pid}/{iid}.dcm", f"bytes={len(half) // 2}-") in requests
    with pytest.raises(DownloadError, match="HTTP 404"):
        download("url", tmp_path / "none", url="https://mirror.example/elsewhere", client=client)


def test_layout_check_names_missing_images(synth_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(synth_root, root)
    first = pd.read_csv(root / "train.csv").iloc[0]
    (root / "train_images" / str(first.patient_id) / f"{first.image_id}.dcm").unlink()
    report = check_layout(root)
    assert report["n_missing"] == 1 and report["missing"] == [f"train_images/{first.patient_id}/{first.image_id}.dcm"]


def test_choose_patients_keeps_cancers_in_proportion():
    train = pd.DataFrame({"patient_id": range(100), "cancer": [1] * 10 + [0] * 90})
    chosen = choose_patients(train, 20)
    assert len(chosen) == 20 and sum(p < 10 for p in chosen) == 2
