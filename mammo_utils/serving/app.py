"""The web app (Streamlit): upload mammograms, see each score against the threshold, the heat-map and the
per-breast summary. It calls the REST API (one system, two faces); start both with ``mammo serve`` and
``mammo app`` (or ``docker compose up``).

Example files: set ``MAMMO_EXAMPLES`` to a folder of DICOMs (the demo points it at the embedded dataset) to
offer them in a list, for a first look without data of one's own.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pandas as pd
import streamlit as st

from mammo_utils.serving.client import ApiClient, ApiError, result_caption
from mammo_utils.serving.inference import DISCLAIMER

st.set_page_config(page_title="mammo · screening mammography", layout="wide")
st.title("Screening mammography: cancer probability")
st.warning(DISCLAIMER, icon="⚠️")

client = ApiClient()
try:
    model = client.model()
    st.caption(
        f"Model **{model.get('name')}** ({model.get('backbone')}, run {model['serving'].get('run_name')}, "
        f"runtime {model['serving'].get('runtime')}) · decision threshold {model['threshold']:.3f} · "
        f"API {client.base_url}"
    )
except ApiError as exc:
    st.error(f"The API is not available: {exc}")
    st.stop()

explain = st.toggle("Grad-CAM heat-map (where the model looked)", value=True)
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

if items:
    results = []
    columns = st.columns(4)
    for i, (name, data) in enumerate(items):
        with columns[i % len(columns)]:
            try:
                result = client.predict_bytes(name, data, explain=explain)
            except ApiError as exc:
                st.error(f"{name}: {exc.detail}")
                continue
            results.append(result)
            if "heatmap_png_base64" in result:
                st.image(base64.b64decode(result["heatmap_png_base64"]), caption=f"{name}: Grad-CAM", width=180)
            recall = result["decision"] == "recall"
            st.metric(name, f"{result['probability']:.3f}", "recall" if recall else "routine",
                      delta_color="inverse" if recall else "off")  # fmt: skip
            st.caption(result_caption(result))
            if result.get("boxes"):  # the lesion detector's boxes, in the uploaded file's own pixels
                st.dataframe(pd.DataFrame(result["boxes"]), hide_index=True)
    if len(items) > 1 and results:
        study = client.study(items)
        st.subheader("Per breast (mean of its images)")
        st.dataframe(pd.DataFrame(study["breasts"]), hide_index=True)
