# Size: one capture pipeline in the order it runs (services, Prometheus, traffic, two browser captures, the report
# hook), each step a short function.
"""``mammo screens``: page images of the running services for the report, taken in headless Chromium.

What a rebuild shows of its deployment is captured from the services it just built, never drawn by hand:

1. ``mammo serve`` on the exported champion and ``mammo app`` against it
   (:func:`mammo_utils.serving.demo.started_services`), under a steady mixed load (:mod:`.traffic`: uploads,
   studies with Grad-CAM, ``/v1/model``, now and then a bad file) from then until the last screenshot, so every
   series the graphs show grows across their time range;
2. Debian's ``prometheus`` server on a free port, with a generated configuration that scrapes the API's
   ``/metrics`` every second and loads the project's alert rules (``deploy/prometheus/alerts.yml``);
3. ``figures/web_app.png``: the web app in Chromium after a DICOM upload, once the decision ("recall" or
   "routine") is on the page (:func:`capture_web_app`); the file goes up as :data:`UPLOAD_NAME`, a name that
   carries no identifier (the dataset's file names are image ids);
4. ``figures/monitoring.png``: Prometheus's own graph page over the Grafana dashboard's key queries (request
   rate, p95 latency from the histogram, 5xx share: ``... or vector(0)``, so 0 while nothing fails), read from
   ``deploy/grafana/dashboards/mammo.json`` so the two stay the same queries (:func:`capture_monitoring`); above
   each query the page gets a heading with the dashboard panel's title and its unit in words (:func:`panel_heading`),
   as Prometheus's page names neither.
   Grafana itself is not installable on the build machine (no Debian package, no network), so the image is
   Prometheus's UI, and the report's caption says so. It is taken once the request counter is non-zero and every
   series of the three panels fills most of the graphs' time range (:func:`wait_for_panels`), not while the load
   is still arriving.

Each PNG gets a provenance sidecar (:mod:`.provenance`: the export's digest, the time, the URL path), which
``mammo report`` checks against the export it describes.

Example:
    >>> capture_screens("data/work/export/champion", "reports/figures", dicom="x.dcm")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import httpx

from ..serving.client import wait_ready
from ..serving.demo import free_port, started_services
from ..utils import project_root, to_json
from .markup import figure_html
from .provenance import write_sidecar
from .traffic import load_words, steady_load

#: Browser viewport of the web-app screenshot (pixels): the PNG has this size (wide enough for sidebar and result,
#: as high as the result with its heat-map notice and detector caption, so a slide shows it without blank space).
WINDOW = (1400, 1000)
#: Viewport of the monitoring screenshot (CSS pixels): tall enough for the two graphs and the value table of
#: Prometheus's page.
MONITORING_WINDOW = (1000, 2200)
#: Device pixels per CSS pixel of the monitoring screenshot: its text stays readable when the report shrinks the
#: image to the page's width (the PNG is ``MONITORING_WINDOW`` times this).
MONITORING_SCALE = 1.5
#: Words the web app prints once the API returned a decision.
DECISIONS = ("recall", "routine")
#: How the web app's caption under an image begins (``serving/app.py``: the detector's boxes, no detector, or the
#: heat-map alone).
CAPTION_STARTS = ("Detector:", "No lesion detector", "Heat-map coloured")
#: The Grafana dashboard whose queries the monitoring image shows, and the panels (title prefixes) it takes.
DASHBOARD = "deploy/grafana/dashboards/mammo.json"
KEY_PANELS = ("/v1 requests per second", "Latency p50 / p95", "5xx share")
#: The alert rules Prometheus loads.
RULES = ("deploy/prometheus/alerts.yml",)
#: The job name the rules and the dashboard select (``up{job="mammo-api"}``).
JOB = "mammo-api"
#: The name the DICOM is uploaded under (API and web app): the dataset's own names are image ids.
UPLOAD_NAME = "example.dcm"
#: Time range of the monitoring page's graphs in seconds, and as the page's range box writes it (whole minutes).
MONITORING_RANGE_S = 60.0
MONITORING_RANGE = f"{int(MONITORING_RANGE_S // 60)}m"
#: The panels that must show data before the monitoring screenshot (title prefixes): all three, the 5xx share
#: included (its numerator falls back to ``vector(0)``, so it draws a zero line while no request failed).
DATA_PANELS = KEY_PANELS
#: Panels the page shows as their current value (its Console tab) instead of a graph: a share that stays at 0
#: draws its line on the graph's bottom border with no axis labels, where the table prints "0".
VALUE_PANELS = ("5xx share",)
#: Grafana's units (a panel's ``fieldConfig.defaults.unit``) in words, for the headings above the page's graphs.
UNIT_WORDS = {"reqps": "requests per second", "s": "seconds", "percentunit": "share of requests (0-1)"}
#: Points Prometheus returns that a graph does not draw.
NOT_DRAWN = ("NaN", "+Inf", "-Inf")
#: Share of the graphs' time range each series of the :data:`DATA_PANELS` must cover before the screenshot.
MIN_COVERAGE = 0.8
#: Seconds to wait for that before giving up with the numbers seen.
PANELS_TIMEOUT = 180.0
#: The request counter that must be non-zero before the screenshot.
REQUESTS_EXPR = f'sum(mammo_requests_total{{job="{JOB}", route=~"/v1/.*"}})'
#: Caption of the monitoring figure (the report prints it; honest about what the image is).
MONITORING_CAPTION = (
    "Monitoring: Prometheus's own graph page (headless Chromium) over the API that this rebuild started, under a "
    f"steady load until the screenshot ({load_words()}): request rate and p95 latency from the latency histogram "
    "as graphs over the last minute (captured once the load had run for the longest rate() window of the queries "
    "plus that minute, so every point drawn averages steady load only), and the 5xx share as its current value "
    "(the page's Console tab; 0 while no request failed with a 5xx), the same PromQL as the Grafana dashboard "
    "<code>deploy/grafana/dashboards/mammo.json</code>. The heading above each query (the dashboard panel's title "
    "and the unit of its values) is added to the page from that dashboard file; Prometheus's page names neither. "
    "Grafana is not installable on this build machine (no Debian package, no network), so this is Prometheus's "
    "UI, not a Grafana screenshot; <code>docker compose -f deploy/compose.yaml up</code> shows the dashboard itself."
)


class Panel(NamedTuple):
    """One dashboard panel the monitoring page shows.

    Attributes:
        title: The panel's title in the dashboard.
        expr: The PromQL taken from it.
        unit: Its Grafana unit (``fieldConfig.defaults.unit``: ``reqps``, ``s``, ``percentunit``; ``""``: none).
        part: Which of its queries ``expr`` is, when it has several (the target's legend up to its first label,
            ``"p95"``); ``""`` for a panel of one query.
    """

    title: str
    expr: str
    unit: str = ""
    part: str = ""


def demo_dicom(data_root: str | Path, splits_path: str | Path | None = None) -> Path | None:
    """The DICOM the screenshots upload: a test-split image with a cancer and a mass box, so the page can show the
    detector's boxes and the Grad-CAM (masses are what the small detector finds; calcification clusters are not),
    falling back to any lesion box, any cancer image, then any image. Whatever the model answers is what is shown.

    Args:
        data_root: The dataset (``train.csv``, ``train_images/``, optional ``boxes.csv``).
        splits_path: ``splits.csv`` (``mammo splits``); without it any patient may be chosen.

    Returns:
        The file, or None when the dataset holds no DICOM.
    """
    import pandas as pd

    from ..data.rsna import image_path, load_boxes, load_train

    df = load_train(data_root).sort_values("image_id")
    if splits_path is not None and Path(splits_path).is_file():
        test = pd.read_csv(splits_path).query("split == 'test'").image_id
        df = df[df.image_id.isin(test)] if df.image_id.isin(test).any() else df
    boxes = load_boxes(data_root, required=False)
    boxed = set(boxes.image_id)
    masses = set(boxes.image_id[boxes.label.isin(("mass", "spiculated_mass"))]) if "label" in boxes else set()
    cancers = df[df.cancer == 1]
    for pick in (cancers[cancers.image_id.isin(masses)], cancers[cancers.image_id.isin(boxed)], cancers, df):
        for row in pick.itertuples():
            path = image_path(data_root, row.patient_id, row.image_id)
            if path.is_file():
                return path
    return None


def dashboard_queries(path: str | Path | None = None, panels: tuple[str, ...] = KEY_PANELS) -> list[Panel]:
    """The dashboard's key panels, in order: title, PromQL and unit of each (:class:`Panel`).

    Args:
        path: Dashboard JSON (default :data:`DASHBOARD` in the project).
        panels: Title prefixes of the panels to take; for a panel with several queries the last one (p95 of
            the latency panel's p50/p95: one line per series, not two) is taken.

    Returns:
        One :class:`Panel` per panel found.

    Raises:
        ValueError: A panel is not in the dashboard (its title changed).

    Example:
        >>> [(p.unit, p.part) for p in dashboard_queries()]  # doctest: +SKIP
        [('reqps', ''), ('s', 'p95'), ('percentunit', '')]
    """
    board = json.loads(Path(path or project_root() / DASHBOARD).read_text())
    found = []
    for prefix in panels:
        match = [p for p in board["panels"] if p.get("title", "").startswith(prefix) and p.get("targets")]
        if not match:
            raise ValueError(f"{path or DASHBOARD}: no panel titled {prefix!r}; update KEY_PANELS")
        panel, target = match[0], match[0]["targets"][-1]
        part = ""
        if len(panel["targets"]) > 1:  # name the query taken by its legend ("p95 {{route}}" -> "p95")
            part = target.get("legendFormat", "").split("{{")[0].strip() or target.get("refId", "")
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        found.append(Panel(panel["title"], target["expr"], unit, part))
    return found


def unit_words(unit: str) -> str:
    """A Grafana unit in words (:data:`UNIT_WORDS`).

    Args:
        unit: The unit's id (``reqps``).

    Returns:
        ``"requests per second"``.

    Raises:
        ValueError: A unit without words (the dashboard changed a key panel's unit): add it to UNIT_WORDS.

    Example:
        >>> unit_words("s")
        'seconds'
    """
    if unit not in UNIT_WORDS:
        raise ValueError(f"Grafana unit {unit!r} has no words in UNIT_WORDS ({sorted(UNIT_WORDS)}); add it there")
    return UNIT_WORDS[unit]


def panel_heading(panel: Panel) -> str:
    """The heading the monitoring page shows above a panel's query: its dashboard title and its unit.

    Args:
        panel: A key panel (:func:`dashboard_queries`).

    Returns:
        ``'PromQL of Grafana panel "<title>" (its p95 query) · y-axis: seconds'``; a :data:`VALUE_PANELS` panel says
        ``value`` instead of ``y-axis`` (the page shows its number, not a graph).

    Example:
        >>> panel_heading(Panel("5xx share of /v1 requests", "x", "percentunit"))
        'PromQL of Grafana panel "5xx share of /v1 requests" · value: share of requests (0-1)'
    """
    shown = "value" if panel.title.startswith(VALUE_PANELS) else "y-axis"
    part = f" (its {panel.part} query)" if panel.part else ""
    return f'PromQL of Grafana panel "{panel.title}"{part} · {shown}: {unit_words(panel.unit)}'


def prometheus_config(api: str, rules: list[Path], interval: str = "1s") -> str:
    """A Prometheus configuration scraping ``api``'s ``/metrics`` as job :data:`JOB` and loading ``rules``.

    Args:
        api: The API's base URL (``http://127.0.0.1:8000``).
        rules: Absolute paths of rule files.
        interval: Scrape and rule-evaluation interval.

    Returns:
        YAML text (JSON is valid YAML).
    """
    target = urllib.parse.urlparse(api).netloc
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(r) for r in rules],
        "scrape_configs": [{"job_name": JOB, "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}],
    }
    return to_json(config, indent=1)


@contextmanager
def started_prometheus(api: str, rules: list[Path] | None = None, binary: str | None = None) -> Iterator[str]:
    """Debian's ``prometheus`` server on a free port, scraping ``api``; yields its base URL, stops it after.

    Raises:
        FileNotFoundError: No ``prometheus`` binary (``apt-get install prometheus``).
        RuntimeError: It did not become ready (its log is in the message).
    """
    binary = binary or shutil.which("prometheus")
    if binary is None:
        raise FileNotFoundError("prometheus: not installed (Debian: apt-get install prometheus)")
    rules = rules if rules is not None else [project_root() / r for r in RULES]
    with tempfile.TemporaryDirectory(prefix="mammo-prometheus-") as tmp:
        config = Path(tmp) / "prometheus.yml"
        config.write_text(prometheus_config(api, rules))
        url = f"http://127.0.0.1:{free_port()}"
        command = [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp}/data",
                   f"--web.listen-address={url.removeprefix('http://')}"]  # fmt: skip
        log = Path(tmp) / "prometheus.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            if not wait_ready(url, "/-/ready", timeout=60, process=process):
                raise RuntimeError(f"prometheus did not become ready:\n{log.read_text()[-2000:]}")
            yield url
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_scrapes(prometheus: str, n: int = 3, timeout: float = 60.0) -> int:
    """Wait until Prometheus holds ``n`` samples of the API's ``up`` (so ``rate()`` has points); returns the count."""
    deadline, count = time.time() + timeout, 0
    query = {"query": f'count_over_time(up{{job="{JOB}"}}[5m])'}
    while time.time() < deadline:
        result = httpx.get(f"{prometheus}/api/v1/query", params=query, timeout=5).json()["data"]["result"]
        count = int(float(result[0]["value"][1])) if result else 0
        if count >= n:
            break
        time.sleep(1)
    return count


def _query(prometheus: str, endpoint: str, params: dict) -> list[dict]:
    """The ``result`` of one Prometheus HTTP API call (``query`` or ``query_range``)."""
    answer = httpx.get(f"{prometheus}/api/v1/{endpoint}", params=params, timeout=10)
    answer.raise_for_status()
    return answer.json()["data"]["result"]


def request_count(prometheus: str) -> float:
    """Requests the API has answered on its ``/v1`` routes, as Prometheus last scraped them (0 before any)."""
    result = _query(prometheus, "query", {"query": REQUESTS_EXPR})
    return sum(float(series["value"][1]) for series in result)


def series_coverage(values: list, end: float, window_s: float) -> float:
    """Share of a graph's time range (``window_s`` seconds up to ``end``) from one series' first drawn point on.

    Args:
        values: The series' ``[[time, "value"], ...]`` (Prometheus's ``query_range``); :data:`NOT_DRAWN` points
            (a quantile of no requests is NaN) do not count.
        end: End of the range.
        window_s: The range in seconds.

    Returns:
        A share in [0, 1]; 0 for a series with no drawn point (a legend entry without a line).

    Example:
        >>> series_coverage([[70, "NaN"], [80, "0.2"], [90, "0.3"]], end=100, window_s=40)
        0.5
    """
    stamps = [float(t) for t, v in values if v not in NOT_DRAWN]
    return min(1.0, max(0.0, (end - min(stamps)) / window_s)) if stamps else 0.0


def panel_coverage(prometheus: str, expr: str, window_s: float = MONITORING_RANGE_S, now: float | None = None) -> float:
    """Share of a graph's time range (the last ``window_s`` seconds) that its least-covered series covers.

    What a panel of the monitoring page shows: 0 is an empty graph or a legend entry with no line, 1 every series
    across it (:func:`series_coverage`).

    Args:
        prometheus: Prometheus's base URL.
        expr: The panel's PromQL.
        window_s: The graph's range in seconds.
        now: End of the range (default: now).

    Returns:
        A share in [0, 1].
    """
    end = time.time() if now is None else now
    result = _query(prometheus, "query_range", {"query": expr, "start": end - window_s, "end": end, "step": 1})
    return min((series_coverage(series.get("values", []), end, window_s) for series in result), default=0.0)


_WINDOW = re.compile(r"\[(\d+)([smh])\]")


def rate_window_s(queries: list[Panel]) -> float:
    """The longest range selector (``[5m]``) of the panels' PromQL, in seconds (0 without one).

    A rate() over a window longer than the load has run averages in the time before it, so the graphs are drawn
    only after the load has run this long plus their own range.

    Args:
        queries: The page's panels (:func:`dashboard_queries`).

    Returns:
        Seconds.

    Example:
        >>> rate_window_s([Panel("a", "rate(x[5m])", ""), Panel("b", "rate(y[30s])", "")])
        300.0
    """
    unit = {"s": 1.0, "m": 60.0, "h": 3600.0}
    return max((int(n) * unit[u] for panel in queries for n, u in _WINDOW.findall(panel.expr)), default=0.0)


def wait_for_panels(
    prometheus: str,
    queries: list[Panel],
    required: tuple[str, ...] = DATA_PANELS,
    window_s: float = MONITORING_RANGE_S,
    min_coverage: float = MIN_COVERAGE,
    timeout: float = PANELS_TIMEOUT,
    poll: float = 2.0,
) -> dict[str, float]:
    """Wait until the monitoring page has something to show: requests counted, every series of the required
    panels over most of their graphs (none of them a legend entry without a line).

    Args:
        prometheus: Prometheus's base URL.
        queries: The page's panels (:func:`dashboard_queries`).
        required: Title prefixes of the panels that must have data.
        window_s: The graphs' range in seconds.
        min_coverage: Share of the range each series of a required panel must cover.
        timeout: Seconds to wait.
        poll: Seconds between looks.

    Returns:
        ``{panel title: coverage of its least-covered series}`` of the required panels.

    Raises:
        ValueError: No query matches ``required``, or ``min_coverage`` is outside (0, 1].
        RuntimeError: Not there after ``timeout`` seconds (the counter and each panel's coverage are in the
            message).

    Example:
        >>> wait_for_panels("http://127.0.0.1:9090", dashboard_queries())  # doctest: +SKIP
        {'/v1 requests per second by route and status': 0.83, 'Latency p50 / p95 by route and ...': 0.8}
    """
    if not 0 < min_coverage <= 1:
        raise ValueError(f"min_coverage must be in (0, 1], got {min_coverage}")
    panels = [panel for panel in queries if panel.title.startswith(tuple(required))]
    if not panels:
        titles = [panel.title for panel in queries]
        raise ValueError(f"no query titled like {list(required)} in {titles}; update DATA_PANELS")
    deadline = time.monotonic() + timeout
    while True:
        requests = request_count(prometheus)
        coverage = {panel.title: panel_coverage(prometheus, panel.expr, window_s) for panel in panels}
        if requests > 0 and min(coverage.values()) >= min_coverage:
            return coverage
        if time.monotonic() >= deadline:
            shares = "; ".join(f"{title!r}: {share:.0%}" for title, share in coverage.items())
            raise RuntimeError(
                f"{prometheus}: the monitoring page has no data to show after {timeout:g} s: {requests:g} "
                f"requests counted by {REQUESTS_EXPR}, and the least-covered series of each panel covers {shares} "
                f"of the {window_s:g} s graphs (needed: requests > 0 and {min_coverage:.0%}). Does Prometheus scrape "
                "the API (Status > Targets) and did the load reach it?"
            )
        time.sleep(poll)


def _browser(window: tuple[int, int] = WINDOW, scale: float = 1.0):
    """Headless Chromium through chromedriver (Debian's ``chromium`` + ``chromium-driver``); screenshots are
    ``window`` times ``scale`` pixels."""
    from selenium import webdriver

    chromium, driver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not (chromium and driver):
        raise FileNotFoundError("chromium + chromedriver not installed (Debian: chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars",
                 f"--window-size={window[0]},{window[1]}"):  # fmt: skip
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
    # the window size includes the (invisible) browser frame: fix the page's own viewport, so a PNG is ``window``
    metrics = {"width": window[0], "height": window[1], "deviceScaleFactor": scale, "mobile": False}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    return browser


def result_lines(page_text: str) -> dict[str, list[str]]:
    """The web app's result in its page text: the decision lines (a decision and the threshold, one per image) and
    the caption under each image (what was drawn: the detector's boxes, the heat-map; :data:`CAPTION_STARTS`).

    Args:
        page_text: The page body's text, as the browser reads it.

    Returns:
        ``{"decision": [...], "caption": [...]}``, e.g. ``["Recall — p = 0.999 ≥ threshold 0.191"]`` and
        ``["Detector: 2 findings (class, score) boxed; …"]``.

    Example:
        >>> found = result_lines("Model x\\nL-CC · a.dcm\\nRecall — p = 0.999 ≥ threshold 0.191\\nDetector: 2 findings")
        >>> found["decision"], found["caption"]
        (['Recall — p = 0.999 ≥ threshold 0.191'], ['Detector: 2 findings'])
    """
    lines = [line.strip() for line in page_text.splitlines()]
    return {
        "decision": [line for line in lines if "threshold" in line.lower() and line.lower().startswith(DECISIONS)],
        "caption": [line for line in lines if line.startswith(CAPTION_STARTS)],
    }


def capture_web_app(
    app: str, dicom: str | Path, out: str | Path, timeout: float = 120.0
) -> tuple[Path, dict[str, list[str]]]:
    """Upload ``dicom`` in the web app at ``app`` in headless Chromium and save the page once it shows a decision.

    Args:
        app: The web app's base URL.
        dicom: A DICOM file to upload through the page's file input; the page shows its name, so give it one
            without identifiers (:func:`neutral_copy`).
        out: PNG path (:data:`WINDOW` pixels).
        timeout: Seconds to wait for the page and then for the decision.

    Returns:
        ``out`` and the page's result (:func:`result_lines`: what the screenshot shows as text, recorded in its
        sidecar so a slide can print the decision at a readable size).

    Raises:
        RuntimeError: No "recall"/"routine" on the page in time (the page text is in the message).
    """
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser = _browser()
    try:
        browser.get(app)
        wait = WebDriverWait(browser, timeout)
        upload = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "input[type='file']")))
        upload.send_keys(str(Path(dicom).resolve()))
        text = lambda b: b.find_element(By.TAG_NAME, "body").text.lower()  # noqa: E731
        try:
            wait.until(lambda b: any(word in text(b) for word in DECISIONS))
        except TimeoutException:
            page = text(browser)[:1500]
            raise RuntimeError(f"{app}: no decision on the page after {timeout:.0f} s:\n{page}") from None
        time.sleep(2)  # let the images paint
        return _save(browser, out), result_lines(browser.find_element(By.TAG_NAME, "body").text)
    finally:
        browser.quit()


def monitoring_url(prometheus: str, queries: list[Panel], window: str = MONITORING_RANGE) -> str:
    """Prometheus's classic graph page with one graph per query (the UI Debian's package serves); the
    :data:`VALUE_PANELS` show their current value instead (the page's Console tab).

    Args:
        prometheus: Its base URL (``""`` for the path alone).
        queries: The panels (:func:`dashboard_queries`), one query block each (``g0``, ``g1``, ... in order).
        window: The graphs' time range (the capture's minute of steady load fills a short one).

    Returns:
        The URL.
    """
    params = {}
    for i, panel in enumerate(queries):
        tab = "1" if panel.title.startswith(VALUE_PANELS) else "0"
        params.update({f"g{i}.expr": panel.expr, f"g{i}.tab": tab, f"g{i}.range_input": window})
    return f"{prometheus}/classic/graph?{urllib.parse.urlencode(params)}"


def capture_monitoring(prometheus: str, out: str | Path, queries: list[Panel] | None = None) -> Path:
    """Screenshot Prometheus's graph page over the dashboard's key queries (:func:`dashboard_queries`), each under
    a heading naming its dashboard panel and unit (:func:`panel_heading`).

    Args:
        prometheus: Prometheus's base URL.
        out: PNG path: the page (:data:`MONITORING_WINDOW` x :data:`MONITORING_SCALE` pixels) cut to its panels
            (:func:`crop_to_panels`), without the page's controls.
        queries: The panels (default: the dashboard's key panels).

    Returns:
        ``out``.

    Raises:
        RuntimeError: The page has not one query block per panel for the headings (its layout changed).
    """
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    queries = queries or dashboard_queries()
    browser = _browser(MONITORING_WINDOW, MONITORING_SCALE)
    try:
        browser.get(monitoring_url(prometheus, queries))
        # each graph is drawn by the page's scripts once its query returned: wait for one SVG per graph query
        graphs = sum(not panel.title.startswith(VALUE_PANELS) for panel in queries)
        drawn = lambda b: len(b.find_elements(By.CSS_SELECTOR, ".graph_area svg")) >= graphs  # noqa: E731
        try:
            WebDriverWait(browser, 30).until(drawn)
        except TimeoutException:
            pass  # a query without data draws no graph, only its "no data" note: still worth showing
        time.sleep(3)
        # the page focuses its last query box and scrolls to it: show it from the top, every query box grown to
        # its whole PromQL, nothing focused
        browser.execute_script(
            "document.querySelectorAll('textarea').forEach(t => { t.style.height = t.scrollHeight + 'px'; });"
            "if (document.activeElement) { document.activeElement.blur(); } window.scrollTo(0, 0);"
        )
        headings = [panel_heading(panel) for panel in queries]
        added = browser.execute_script(HEADINGS_SCRIPT, headings)
        if added != len(headings):
            raise RuntimeError(f"{prometheus}: {added} of {len(headings)} query blocks found for their headings")
        time.sleep(0.5)
        region = browser.execute_script(PANELS_SCRIPT)
        return crop_to_panels(_save(browser, out), region, MONITORING_SCALE)
    finally:
        browser.quit()


def crop_to_panels(png: str | Path, region: dict | None, scale: float = MONITORING_SCALE, margin: int = 12) -> Path:
    """Cut a page screenshot to the region its panels take (:data:`PANELS_SCRIPT`'s rectangle), in place.

    Args:
        png: The screenshot.
        region: ``{"left", "top", "right", "bottom"}`` in CSS pixels (None or empty: the image is kept whole).
        scale: Device pixels per CSS pixel of the screenshot.
        margin: Device pixels kept around the region.

    Returns:
        ``png``.

    Example:
        >>> crop_to_panels("monitoring.png", {"left": 10, "top": 80, "right": 990, "bottom": 900})  # doctest: +SKIP
    """
    from PIL import Image

    png = Path(png)
    if not region:
        return png
    with Image.open(png) as im:
        width, height = im.size
        box = (
            max(int(region["left"] * scale) - margin, 0),
            max(int(region["top"] * scale) - margin, 0),
            min(int(region["right"] * scale) + margin, width),
            min(int(region["bottom"] * scale) + margin, height),
        )
        if box[2] <= box[0] or box[3] <= box[1] or box == (0, 0, width, height):
            return png
        cut = im.crop(box)
    partial = png.with_name(f".{png.stem}.crop.png")
    cut.save(partial)
    partial.replace(png)
    return png


#: Puts ``arguments[0][i]`` as a heading above query block ``i`` of Prometheus's classic graph page (its
#: ``#graph_wrapper<i>``, numbered in the URL's order); returns how many it placed.
HEADINGS_SCRIPT = """
let added = 0;
arguments[0].forEach((text, i) => {
  const block = document.getElementById('graph_wrapper' + i);
  if (!block) { return; }
  const heading = document.createElement('h5');
  heading.className = 'mammo-panel-heading';
  heading.textContent = text;
  heading.style.cssText = 'margin: 1.5em 0 0.5em; font-weight: bold; color: #212529;';
  block.parentNode.insertBefore(heading, block);
  added += 1;
});
return added;
"""


#: Hides the page's controls (navigation bar, Execute buttons, metric picker, load statistics, time-range inputs,
#: tabs, "Remove Graph") and returns the rectangle (CSS pixels) the panel headings and their query blocks take,
#: so the screenshot is cut to the panels (:func:`crop_to_panels`) instead of the whole page.
PANELS_SCRIPT = """
document.querySelectorAll('nav.navbar, .execute_btn, .expression_select, .eval_stats, .graph_wrapper .clearfix, '
  + '.graph_wrapper .nav-tabs, .graph_wrapper .text-right').forEach(e => { e.style.display = 'none'; });
const parts = [...document.querySelectorAll('.mammo-panel-heading, .graph_wrapper')]
  .map(e => e.getBoundingClientRect()).filter(r => r.height > 0);
if (!parts.length) { return null; }
return {left: Math.min(...parts.map(r => r.left)), top: Math.min(...parts.map(r => r.top)),
        right: Math.max(...parts.map(r => r.right)), bottom: Math.max(...parts.map(r => r.bottom))};
"""


def neutral_copy(dicom: str | Path, folder: str | Path, name: str = UPLOAD_NAME) -> Path:
    """A copy of ``dicom`` named ``name`` in ``folder``: what a page shows of an upload is then no image id.

    Args:
        dicom: The file.
        folder: Where the copy goes (a temporary folder).
        name: Its name.

    Returns:
        The copy.
    """
    copy = Path(folder) / name
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(dicom, copy)
    return copy


def _save(browser, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.stem}.partial.png")
    if not browser.save_screenshot(str(partial)):
        raise RuntimeError(f"{out}: Chromium saved no screenshot")
    partial.replace(out)
    return out


def capture_screens(
    export_dir: str | Path,
    out: str | Path,
    dicom: str | Path,
    work_dir: str | Path | None = None,
    say: Callable[[str], None] = print,
    settle: bool = True,
) -> dict[str, Path]:
    """Start the services on ``export_dir``, load them, and save both page images with their provenance.

    Args:
        export_dir: The export to serve (the champion pointer).
        out: Figures folder (``reports/figures``).
        dicom: The DICOM uploaded (through the API and through the web app, as :data:`UPLOAD_NAME`).
        work_dir: Work folder of the services (their feedback store); default a temporary one, so the
            screenshots leave nothing behind.
        say: Progress lines.
        settle: Let the load run for the queries' longest rate() window plus the graphs' range before the
            monitoring capture (:func:`rate_window_s`; about six minutes), so the graphs show steady rates; False
            (tests) captures as soon as the panels have data.

    Returns:
        ``{"web_app": png, "monitoring": png, ...sidecars}``.

    Raises:
        FileNotFoundError: No export, DICOM, Chromium or Prometheus.
        RuntimeError: A service did not start, or the monitoring panels got no data (:func:`wait_for_panels`).
    """
    out, dicom = Path(out), Path(dicom)
    if not dicom.is_file():
        raise FileNotFoundError(f"{dicom}: no such DICOM to upload")
    with tempfile.TemporaryDirectory(prefix="mammo-screens-") as tmp:
        env = {"MAMMO_FEEDBACK_DB": str(Path(tmp) / "feedback.db")}
        upload = neutral_copy(dicom, Path(tmp) / "upload")
        with started_services(export_dir, work_dir=work_dir or tmp, env=env) as urls:
            say(f"services up: API {urls['api']}, web app {urls['app']}")
            with started_prometheus(urls["api"]) as prometheus:
                # Prometheus scrapes the API before the load begins, so it sees each counter grow from its start;
                # the load runs until the last screenshot, so every route's rate and latency are drawn up to it
                wait_scrapes(prometheus, 3)
                with steady_load(urls["api"], upload, UPLOAD_NAME, say=say):
                    loaded_since = time.monotonic()
                    web_app, shown = capture_web_app(urls["app"], upload, out / "web_app.png")
                    web_app_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                    say(f"web app -> {web_app}")
                    queries = dashboard_queries()
                    steady = loaded_since + rate_window_s(queries) + MONITORING_RANGE_S - time.monotonic()
                    if settle and steady > 0:  # every drawn point's rate() window then holds steady load only
                        say(f"steady load for {steady:.0f} s more, so the graphs' rate() windows hold only the load")
                        time.sleep(steady)
                    filled = wait_for_panels(prometheus, queries)
                    say("monitoring panels filled: " + ", ".join(f"{t} {c:.0%}" for t, c in filled.items()))
                    monitoring = capture_monitoring(prometheus, out / "monitoring.png", queries)
                    monitoring_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                    say(f"monitoring -> {monitoring}")
    written = {"web_app": web_app, "monitoring": monitoring}
    written["web_app_provenance"] = write_sidecar(
        web_app, export_dir, url_path="/", uploaded=UPLOAD_NAME, recorded_at=web_app_at, result=shown
    )  # each sidecar says when its page was captured, not when the sidecars were written (and what it showed)
    written["monitoring_provenance"] = write_sidecar(
        monitoring, export_dir, url_path=monitoring_url("", queries), dashboard=DASHBOARD, grafana=False,
        recorded_at=monitoring_at,
    )  # fmt: skip
    return written


def with_screens(page: str, reports: str | Path) -> str:
    """Add the monitoring figure to the report's MLOps section (before "Limitations") when it was captured.

    Args:
        page: The final report's HTML.
        reports: The reports folder.

    Returns:
        The page, with the figure when ``figures/monitoring.png`` exists.
    """
    rel = "figures/monitoring.png"
    if not (Path(reports) / rel).is_file():
        return page
    figure = figure_html(rel, MONITORING_CAPTION, alt="Prometheus graph page over the dashboard queries") + "\n"
    marker = page.find('<h2 id="limits">')
    return page[:marker] + figure + page[marker:] if marker >= 0 else page + figure
