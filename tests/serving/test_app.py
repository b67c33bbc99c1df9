"""The Streamlit web app against a running API: Streamlit's AppTest headless, and once in a real browser.

The browser test drives Debian's chromium through chromedriver (installed by `run_all.sh`'s setup step),
uploads a DICOM through the page's file input and reads the result; it saves a screenshot to
``$MAMMO_SCREENSHOTS`` (default: the test's temporary folder).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mammo_utils.serving.client import wait_ready
from mammo_utils.serving.demo import free_port

TOKEN = "test-token-123"  # the server fixture's (tests/serving/conftest.py)
APP = importlib.util.find_spec("mammo_utils.serving.app").origin


def test_app_scores_an_example_and_shows_the_disclaimer(server, synth_root, monkeypatch):
    from streamlit.testing.v1 import AppTest

    url, _ = server
    monkeypatch.setenv("MAMMO_API_URL", url)
    monkeypatch.setenv("MAMMO_API_TOKEN", TOKEN)
    monkeypatch.setenv("MAMMO_EXAMPLES", str(synth_root / "train_images"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert "not a medical device" in at.warning[0].value
    assert "decision threshold" in at.caption[0].value
    options = at.multiselect[0].options
    at.multiselect[0].select(options[0]).select(options[1]).run()
    assert not at.exception and not at.error
    assert len(at.metric) == 2
    assert all(0 <= float(m.value) <= 1 for m in at.metric)
    assert any("probability" in c.value and "threshold" in c.value for c in at.caption)
    assert len(at.dataframe) == 1  # the per-breast summary of the two images


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
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1400"):
        options.add_argument(flag)
    browser = None
    try:
        assert wait_ready(f"http://127.0.0.1:{port}", "/_stcore/health", timeout=60, process=app)
        browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
        browser.get(f"http://127.0.0.1:{port}")
        wait = WebDriverWait(browser, 90)
        upload = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "input[type='file']")))
        dicom = sorted((synth_root / "train_images").rglob("*.dcm"))[0]
        upload.send_keys(str(dicom))
        # the page title already says "probability": wait for the decision the API returned instead
        wait.until(lambda b: any(w in b.find_element(By.TAG_NAME, "body").text for w in ("recall", "routine")))
        time.sleep(1.5)  # let the heat-map image paint before the screenshot
        body = browser.find_element(By.TAG_NAME, "body").text
        assert "not a medical device" in body and dicom.name in body
        assert "recall" in body or "routine" in body
        shots = Path(os.environ.get("MAMMO_SCREENSHOTS", tmp_path))
        shots.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(shots / "web_app.png"))
    finally:
        if browser is not None:
            browser.quit()
        app.terminate()
        app.wait(20)
