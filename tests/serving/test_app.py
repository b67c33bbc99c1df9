"""The Streamlit web app against a running API: Streamlit's AppTest headless, and once in a real browser.

AppTest checks a study is scored by one ``/v1/studies`` call, recorded once, and not again when widgets move.

The browser test drives Debian's chromium through chromedriver (installed by `run_all.sh`'s setup step) in a
1400 x 1000 page, uploads a DICOM through the page's file input and reads the decision label, checks the image is
shown at a readable size above the fold and that the page has no developer "Deploy" button; it saves a screenshot
to ``$MAMMO_SCREENSHOTS`` (default: the test's temporary folder).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mammo_utils.serving.client import wait_ready
from mammo_utils.serving.demo import free_port

TOKEN = "test-token-123"  # the server fixture's (tests/serving/conftest.py)
APP = importlib.util.find_spec("mammo_utils.serving.app").origin


def _counts(url: str, store: Path) -> dict[str, float]:
    """Requests answered per scoring route (the server's /metrics) and predictions in its store."""
    import sqlite3

    import httpx

    counts = {"/v1/predict": 0.0, "/v1/studies": 0.0}
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        for route in counts:
            if line.startswith("mammo_requests_total{") and f'route="{route}"' in line:
                counts[route] += float(line.rsplit(" ", 1)[1])
    with sqlite3.connect(store) as db:
        counts["stored"] = db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
    return counts


def test_app_scores_a_study_once_and_shows_the_disclaimer(server, synth_root, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from mammo_utils.serving.inference import HEATMAP_NOTE

    url, log = server
    store = log.parent / "feedback.db"  # the server fixture's MAMMO_FEEDBACK_DB
    monkeypatch.setenv("MAMMO_API_URL", url)
    monkeypatch.setenv("MAMMO_API_TOKEN", TOKEN)
    monkeypatch.setenv("MAMMO_EXAMPLES", str(synth_root / "train_images"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert "not a medical device" in at.warning[0].value
    assert any("decision threshold" in c.value for c in at.sidebar.caption)
    # the API's address only inside the collapsed "Connection" expander, never in the page a screenshot shows
    shown = [c.value for c in at.sidebar.caption if url in c.value]
    assert shown and all(c.startswith("API ") for c in shown)
    assert [e.label for e in at.sidebar.expander] == ["Connection"] and url in at.sidebar.expander[0].caption[0].value
    assert not any(url in c.value for c in at.sidebar.caption if c.value.startswith("Model "))
    before = _counts(url, store)
    options = at.multiselect[0].options
    at.multiselect[0].select(options[0]).select(options[1]).run()
    assert not at.exception and not at.error
    after = _counts(url, store)
    # one /v1/studies call for the two images, no per-file /v1/predict, two predictions recorded
    assert after["/v1/studies"] - before["/v1/studies"] == 1 and after["/v1/predict"] == before["/v1/predict"]
    assert after["stored"] - before["stored"] == 2
    label = re.compile(r"^:(red|green)-background\[\*\*(Recall|Routine)\*\*\] — p = [01]\.\d{3,6} (≥|<) threshold")
    labels = [m.value for m in at.markdown if label.search(m.value)]
    assert len(labels) == 2 and not at.metric  # the decision as a word with p and the threshold, no metric deltas
    assert len(at.dataframe) == 1  # the per-breast summary of the two images
    assert {"Breast", "Images", "Decision"} <= set(at.dataframe[0].value.columns)
    images = at.get("image")  # st.image elements
    assert len(images) == 2
    # each overlay is labelled as the API labels it (a notice, not a small caption): not a localisation
    assert [c.value for c in at.main.info].count(HEATMAP_NOTE) == 2
    assert HEATMAP_NOTE not in [c.value for c in at.main.caption]
    # widgets move: the page is redrawn from the remembered answer, nothing is scored or recorded again
    at.sidebar.toggle[1].set_value(False).run()  # detector boxes off
    at.sidebar.toggle[0].set_value(False).run()  # heat-map off: the answer with heat-maps serves it
    assert HEATMAP_NOTE not in [c.value for c in at.main.info]  # no overlay drawn, no note
    at.sidebar.toggle[0].set_value(True).run()
    assert not at.exception and _counts(url, store) == after


def test_app_says_when_the_api_is_down(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MAMMO_API_URL", f"http://127.0.0.1:{free_port()}")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "API is not available" in at.error[0].value


@pytest.mark.slow
def test_upload_in_a_real_browser(server, synth_root, tmp_path):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("Debian chromium + chromium-driver not installed (run_all.sh --tests installs them as root)")
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    url, _ = server
    port = free_port()
    env = {**os.environ, "MAMMO_API_URL": url, "MAMMO_API_TOKEN": TOKEN}
    command = [sys.executable, "-m", "mammo_utils", "app", "--api", url, "--port", str(port)]
    app = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(flag)
    browser = None
    try:
        assert wait_ready(f"http://127.0.0.1:{port}", "/_stcore/health", timeout=60, process=app)
        browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
        chrome = browser.get_window_size()["height"] - browser.execute_script("return window.innerHeight")
        browser.set_window_size(1400, 1000 + chrome)  # a 1400 x 1000 page: the screenshot's size
        browser.get(f"http://127.0.0.1:{port}")
        wait = WebDriverWait(browser, 90)
        upload = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "input[type='file']")))
        dicom = sorted((synth_root / "train_images").rglob("*.dcm"))[0]
        upload.send_keys(str(dicom))
        label = re.compile(r"(Recall|Routine) — p = [01]\.\d{3,6} (≥|<) threshold [01]\.\d{3,6}")
        wait.until(lambda b: label.search(b.find_element(By.TAG_NAME, "body").text))
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "[data-testid='stMain'] img"))
        wait.until(lambda b: not b.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget']"))  # run over
        image = browser.find_element(By.CSS_SELECTOR, "[data-testid='stMain'] img")
        wait.until(lambda b: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
        body = browser.find_element(By.TAG_NAME, "body").text
        assert "not a medical device" in body and dicom.name in body
        assert url not in body and "127.0.0.1" not in body  # the API's address stays in the collapsed expander
        assert "Deploy" not in body and not browser.find_elements(By.CSS_SELECTOR, "[data-testid='stAppDeployButton']")
        assert image.size["height"] >= 512  # readable, not a thumbnail
        box = browser.execute_script("return arguments[0].getBoundingClientRect().bottom", image)
        assert box <= browser.execute_script("return window.innerHeight")  # the result visible without scrolling
        shots = Path(os.environ.get("MAMMO_SCREENSHOTS", tmp_path))
        shots.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(shots / "web_app.png"))
    finally:
        if browser is not None:
            browser.quit()
        app.terminate()
        app.wait(20)
