"""Get the real RSNA Screening Mammography data into the layout the project reads.

Two sources, one result (``<out>/train.csv`` + ``<out>/train_images/<patient_id>/<image_id>.dcm``, which
:func:`mammo_utils.config.locate_data_root` finds with ``--data <out>`` or ``MAMMO_DATA``):

- ``kaggle``: the competition ``rsna-breast-cancer-detection`` through the Kaggle API (``pip install kaggle``;
  accept the competition rules on its web page first). Credentials are checked before anything is imported or
  fetched: ``KAGGLE_USERNAME`` + ``KAGGLE_KEY``, or ``~/.kaggle/kaggle.json`` (``KAGGLE_CONFIG_DIR`` moves it).
- ``url``: a mirror (web server or bucket gateway) that serves the same layout under a base URL.

Downloads are resumable: finished files are skipped, files arrive as ``.partial`` and are renamed when complete
(a mirror download continues a ``.partial`` with an HTTP Range request), zip archives are tested before they are
unpacked, and every DICOM is checked for its ``DICM`` preamble. ``subset`` fetches whole patients (all their
images; cancer patients first in proportion) for a quick start. The last step counts the images against
``train.csv`` and names what is missing.

Example:
    >>> download("kaggle", "data/rsna", subset=50)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..utils import write_atomic, write_csv_atomic
from .dicom import is_dicom_file

COMPETITION = "rsna-breast-cancer-detection"
SOURCES = ("kaggle", "url")


class DownloadError(RuntimeError):
    """A download, archive or layout problem, with the file and the fix in the message."""


class CredentialsError(DownloadError):
    """No Kaggle credentials: the message says where to put them."""


def kaggle_credentials(env: dict | None = None, home: Path | None = None) -> Path | None:
    """Where Kaggle credentials come from, or raise with instructions.

    Args:
        env: Environment (default ``os.environ``).
        home: Home folder (default ``~``).

    Returns:
        The ``kaggle.json`` path, or None when the environment variables provide them.

    Raises:
        CredentialsError: Neither is present (or the file is unreadable / incomplete).
    """
    env = os.environ if env is None else env
    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY"):
        return None
    folder = Path(env["KAGGLE_CONFIG_DIR"]) if env.get("KAGGLE_CONFIG_DIR") else (home or Path.home()) / ".kaggle"
    token = folder / "kaggle.json"
    how = (
        f"Kaggle credentials not found. Create an API token at https://www.kaggle.com/settings (API -> Create New "
        f"Token) and save the downloaded kaggle.json as {token} (chmod 600), or set KAGGLE_USERNAME and KAGGLE_KEY. "
        f"Then accept the rules at https://www.kaggle.com/competitions/{COMPETITION}/rules."
    )
    if not token.is_file():
        raise CredentialsError(how)
    try:
        values = json.loads(token.read_text())
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"{token}: unreadable ({exc}). {how}") from None
    if not values.get("username") or not values.get("key"):
        raise CredentialsError(f"{token}: needs 'username' and 'key'. {how}")
    return token


class KaggleSource:
    """Files of the competition through a Kaggle API client (``kaggle.api.kaggle_api_extended.KaggleApi``).

    Args:
        client: An authenticated client; built (after :func:`kaggle_credentials`) when None.
    """

    def __init__(self, client=None):
        if client is None:
            kaggle_credentials()
            try:
                from kaggle.api.kaggle_api_extended import KaggleApi
            except ImportError:
                raise DownloadError("the Kaggle client is not installed: pip install kaggle") from None
            client = KaggleApi()
            client.authenticate()
        self.client = client

    def fetch(self, name: str, target: Path) -> None:
        """Download one competition file (e.g. ``train_images/1/2.dcm``) to ``target``."""
        folder = target.parent / ".kaggle-download"
        folder.mkdir(parents=True, exist_ok=True)
        self.client.competition_download_file(COMPETITION, name, path=str(folder), quiet=True)
        base = Path(name).name
        got = folder / base
        archive = folder / f"{base}.zip"
        if archive.is_file():  # Kaggle zips some files on the fly
            _unzip_one(archive, base, got)
        if not got.is_file():
            raise DownloadError(f"{name}: the Kaggle client returned no file (looked for {got} and {archive})")
        os.replace(got, target)


class UrlSource:
    """Files of a mirror that serves the RSNA layout under ``base_url`` (HTTP Range resumes ``.partial`` files).

    Args:
        base_url: e.g. ``https://mirror.example.org/rsna/``.
        client: An ``httpx.Client`` (built when None).
    """

    def __init__(self, base_url: str, client=None):
        import httpx

        if not base_url.startswith(("http://", "https://")):
            raise DownloadError(f"--url must be an http(s) base URL, got {base_url!r}")
        self.base = base_url.rstrip("/") + "/"
        self.client = client or httpx.Client(timeout=120, follow_redirects=True)

    def fetch(self, name: str, target: Path) -> None:
        """Download ``base_url/name`` to ``target``, continuing ``target.partial`` when it exists."""
        partial = target.with_name(target.name + ".partial")
        start = partial.stat().st_size if partial.exists() else 0
        headers = {"Range": f"bytes={start}-"} if start else {}
        with self.client.stream("GET", self.base + name, headers=headers) as response:
            if response.status_code == 416:  # already complete
                pass
            elif response.status_code not in (200, 206):
                raise DownloadError(f"{self.base + name}: HTTP {response.status_code}")
            else:
                mode = "ab" if response.status_code == 206 else "wb"
                with open(partial, mode) as handle:
                    for chunk in response.iter_bytes():
                        handle.write(chunk)
        os.replace(partial, target)


def _unzip_one(archive: Path, member: str, target: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise DownloadError(f"{archive}: corrupt member {bad}; delete it and run the download again")
            names = [n for n in zf.namelist() if Path(n).name == member] or zf.namelist()[:1]
            with zf.open(names[0]) as src:
                write_atomic(target, src.read())
    except zipfile.BadZipFile:
        raise DownloadError(f"{archive}: not a valid zip archive; delete it and run the download again") from None
    archive.unlink()


def choose_patients(train: pd.DataFrame, n: int, seed: int = 0) -> list[int]:
    """``n`` patients for a quick start: every cancer patient's share kept, at least one cancer patient when any.

    Args:
        train: ``train.csv``.
        n: Patients wanted (all when >= the number of patients).
        seed: Random seed.

    Returns:
        Patient ids, sorted.
    """
    patients = train.groupby("patient_id").cancer.max()
    if n >= len(patients):
        return sorted(int(p) for p in patients.index)
    rng = np.random.default_rng(seed)
    positive = patients[patients == 1].index.to_numpy()
    negative = patients[patients == 0].index.to_numpy()
    n_pos = min(len(positive), max(1 if len(positive) else 0, round(n * len(positive) / len(patients))))
    chosen = list(rng.choice(positive, n_pos, replace=False)) + list(rng.choice(negative, n - n_pos, replace=False))
    return sorted(int(p) for p in chosen)


def check_layout(root: str | Path) -> dict:
    """Count the images of ``root`` against its ``train.csv``.

    Returns:
        ``{"rows", "present", "missing": [relative paths, first 20], "n_missing", "not_dicom": [...]}``.
    """
    root = Path(root)
    train = pd.read_csv(root / "train.csv")
    missing, not_dicom, present = [], [], 0
    for pid, iid in zip(train.patient_id, train.image_id):
        rel = f"train_images/{pid}/{iid}.dcm"
        path = root / rel
        if not path.is_file():
            missing.append(rel)
            continue
        if not is_dicom_file(path):
            not_dicom.append(rel)
        present += 1
    return {"rows": len(train), "present": present, "n_missing": len(missing), "missing": missing[:20],
            "not_dicom": not_dicom[:20]}  # fmt: skip


def download(
    source: str,
    out: str | Path,
    subset: int | None = None,
    url: str | None = None,
    client=None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Download RSNA ``train.csv`` and images into ``out`` (resumable) and check the layout.

    Args:
        source: ``kaggle`` or ``url``.
        out: Destination folder (the data root).
        subset: Patients to fetch (all images of each); None for everything listed in ``train.csv``.
        url: Base URL of the mirror (``source="url"``).
        client: A Kaggle API client or ``httpx.Client`` (tests and custom auth); built when None.
        seed: Seed of the patient subset.
        progress: Callable for one-line progress messages.

    Returns:
        :func:`check_layout`'s counts plus ``downloaded`` and ``skipped`` file counts.

    Raises:
        CredentialsError: Kaggle without credentials.
        DownloadError: A failed transfer, a corrupt archive, a file that is not a DICOM, or missing images.
    """
    from tqdm.auto import tqdm

    if source not in SOURCES:
        raise DownloadError(f"--source must be one of {list(SOURCES)}, got {source!r}")
    if source == "url" and not url:
        raise DownloadError("--source url needs --url BASE (the mirror's folder holding train.csv)")
    fetcher = KaggleSource(client) if source == "kaggle" else UrlSource(url, client)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda line: None)
    csv = out / "train.csv"
    full_csv = out / ".train_full.csv"
    if not full_csv.is_file():
        fetcher.fetch("train.csv", full_csv)
    train = pd.read_csv(full_csv)
    missing_cols = [c for c in ("patient_id", "image_id", "cancer") if c not in train.columns]
    if missing_cols:
        raise DownloadError(f"{full_csv}: not the RSNA train.csv (missing {missing_cols}); delete it and retry")
    if subset is not None:
        if subset < 1:
            raise DownloadError(f"--subset must be >= 1, got {subset}")
        train = train[train.patient_id.isin(choose_patients(train, subset, seed))]
    write_csv_atomic(train, csv)
    say(f"{len(train)} images of {train.patient_id.nunique()} patients listed in {csv}")
    downloaded = skipped = 0
    for pid, iid in tqdm(
        list(zip(train.patient_id, train.image_id)), desc="images", unit="file", disable=progress is None
    ):
        target = out / "train_images" / str(pid) / f"{iid}.dcm"
        if target.is_file():
            skipped += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        fetcher.fetch(f"train_images/{pid}/{iid}.dcm", target)
        if not is_dicom_file(target):
            bad = target.with_name(target.name + ".bad")
            os.replace(target, bad)
            raise DownloadError(f"{target}: downloaded file is not a DICOM (no DICM preamble); kept as {bad.name}")
        downloaded += 1
    report = check_layout(out)
    report.update(downloaded=downloaded, skipped=skipped)
    if report["n_missing"]:
        raise DownloadError(
            f"{out}: {report['n_missing']} of {report['rows']} images missing, e.g. {report['missing'][:3]}"
        )
    return report
