"""The web app (Streamlit): upload the mammograms of one patient, read each image's decision with its probability
against the threshold, the image itself with the lesion detector's boxes and the Grad-CAM heat-map (labelled as
where the score is sensitive, not a localisation), and the per-breast summary. It calls the REST API (one system,
two faces); start both with ``mammo serve`` and ``mammo app`` (or ``docker compose up``).

A set of uploads is scored by one ``POST /v1/studies`` call, remembered for the session by the files' SHA-256
and the heat-map flag: moving a widget redraws the page without scoring (and recording) the images again. An
answer with heat-maps also serves the page without them.

Example files: set ``MAMMO_EXAMPLES`` to a folder of DICOMs (the demo points it at the embedded dataset) to
offer them in a list, for a first look without data of one's own.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st

from mammo_utils.serving.client import ApiClient, ApiError, decision_label, model_caption
from mammo_utils.serving.inference import DISCLAIMER, HEATMAP_NOTE
from mammo_utils.serving.render import decode_for_display, decode_map, hanging_order, render_image

#: Studies and decoded images kept per browser session (the oldest is forgotten first).
KEEP = 8
#: Images shown side by side, zoomed to the breast (a four-view study reads R-CC | L-CC | R-MLO | L-MLO) or whole.
PER_ROW = {True: 4, False: 2}
#: Height (CSS pixels) an image is shown at, unless its column is too narrow for it.
IMAGE_HEIGHT = 560
_SIDES = {"R": "Right", "L": "Left"}


def remember(slot: str, key, compute: Callable[[], object]):
    """``compute()`` once per ``key`` in this browser session (``st.session_state[slot]``, :data:`KEEP` kept)."""
    store = st.session_state.setdefault(slot, {})
    if key not in store:
        store[key] = compute()
        while len(store) > KEEP:
            store.pop(next(iter(store)))
    return store[key]


def show_decision(result: dict) -> None:
    """The decision as a coloured word, then the probability against the threshold."""
    word, rest = decision_label(result).split(" — ", 1)
    colour = "red" if result["decision"] == "recall" else "green"
    st.markdown(f":{colour}-background[**{word}**] — {rest}")


def show_image(name: str, data: bytes, result: dict, study: dict, heat: bool, boxes: bool, crop: bool) -> None:
    """One scored image: where it is, the decision, the picture (boxes, heat-map) and what was drawn."""
    where = "-".join(v for v in (result.get("laterality"), result.get("view")) if v) or "Image"
    st.markdown(f"**{where}** · {name}")
    show_decision(result)
    heat_map = result.get("heatmap_original_png_base64") if heat else None
    if heat_map:  # the API's note (the constant when an older service sends none), readable, above the picture
        st.info(result.get("heatmap_note") or HEATMAP_NOTE, icon="ℹ️")
    try:
        grey, stored = remember("pixels", hashlib.sha256(data).hexdigest(), lambda: decode_for_display(data))
    except ValueError as exc:
        st.warning(f"Scored, but not displayable here: {exc}")
        return
    detector = study.get("detector")
    found = result.get("boxes") or []
    picture = render_image(
        grey, stored, found if boxes else None, decode_map(heat_map) if heat_map else None,
        (detector or {}).get("classes", ()), crop,
    )  # fmt: skip
    st.image(picture, width=round(IMAGE_HEIGHT * picture.shape[1] / picture.shape[0]), output_format="PNG")
    notes = []
    if detector is None:
        notes.append("no lesion detector in this model export")
    elif boxes:
        notes.append(f"detector: {len(found)} finding{'s' * (len(found) != 1)} (class, score) boxed")
    if heat_map:
        notes.append("heat-map coloured where Grad-CAM is above half its peak")
    if notes:
        text = "; ".join(notes)
        st.caption(text[0].upper() + text[1:] + ".")


def show_breasts(study: dict) -> None:
    """The per-breast table: laterality, images, the breast's probability and decision."""
    rows = [
        {
            "Breast": _SIDES.get(b["laterality"], b["laterality"]),
            "Images": b["images"],
            f"Probability ({study.get('aggregation', 'mean')} of its images)": round(b["probability"], 3),
            "Decision": b["decision"].capitalize(),
        }
        for b in study["breasts"]
    ]
    st.markdown(f"**Per breast** (recall when the probability is ≥ threshold {study['threshold']:.3f})")
    st.dataframe(pd.DataFrame(rows), hide_index=True)


st.set_page_config(page_title="mammo · screening mammography", layout="wide", initial_sidebar_state="expanded")
st.warning(DISCLAIMER, icon="⚠️")

client = ApiClient()
try:
    model = remember("model", client.base_url, client.model)
except ApiError as exc:
    st.error(f"The API is not available: {exc}")
    st.stop()

with st.sidebar:
    st.header("Screening mammography: cancer probability", divider="gray")
    uploads = st.file_uploader(
        "DICOM or PNG/JPEG mammograms of one patient",
        type=["dcm", "dicom", "png", "jpg", "jpeg", "tif", "tiff"],
        accept_multiple_files=True,
    )
    items = [(u.name, u.getvalue()) for u in uploads or []]
    examples_dir = os.environ.get("MAMMO_EXAMPLES", "")
    if examples_dir and Path(examples_dir).is_dir():
        examples = sorted(Path(examples_dir).rglob("*.dcm"))[:40]
        picked = st.multiselect("…or example DICOMs", [str(p.relative_to(examples_dir)) for p in examples])
        items += [(Path(name).name, (Path(examples_dir) / name).read_bytes()) for name in picked]
    explain = st.toggle("Grad-CAM heat-map (score sensitivity, not a lesion finder)", value=True)
    show_boxes = st.toggle("Lesion detector boxes", value=True)
    crop = st.toggle("Zoom to the breast", value=True)
    st.caption(model_caption(model))
    with st.expander("Connection", expanded=False):  # the address stays out of the page (and its screenshots)
        st.caption(f"API {client.base_url}")

if not items:
    st.info("Upload the images of one patient in the sidebar (or pick example DICOMs) to score them.")
    st.stop()

hashes = tuple(hashlib.sha256(data).hexdigest() for _, data in items)
study = st.session_state.get("studies", {}).get((hashes, True))  # an answer with heat-maps serves both
if study is None:
    try:
        with st.spinner(f"Scoring {len(items)} image{'s' * (len(items) != 1)}…"):
            study = remember("studies", (hashes, explain), lambda: client.study(items, explain=explain))
    except ApiError as exc:
        st.error(f"The API could not score this study: {exc.detail}")
        st.stop()

for image in study["images"]:
    if "error" in image:
        reason = image["error"].removeprefix(f"upload {image['index']}: ")  # the API names uploads by index
        st.error(f"{items[image['index']][0]} could not be scored: {reason}")
scored = hanging_order([i for i in study["images"] if "probability" in i])
if len(scored) > 1 and study["breasts"]:
    show_breasts(study)
per_row = max(1, min(PER_ROW[crop], len(scored)))  # one image alone: its label on one line
for start in range(0, len(scored), per_row):
    for column, result in zip(st.columns(per_row, gap="medium"), scored[start : start + per_row]):
        with column:
            name, data = items[result["index"]]
            show_image(name, data, result, study, explain, show_boxes, crop)
