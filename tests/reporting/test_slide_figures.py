"""Slide copies of figures: their smallest text is at least 14 pixels on a 1280x720 slide, where it can be measured."""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from mammo_utils.reporting import slide_figures as sf

RESULTS = Path(__file__).resolve().parents[2] / "reports" / "results"


def _figure(width: float, height: float, pt: float):
    fig, ax = plt.subplots(figsize=(width, height))
    ax.plot([0, 1], [0, 1])
    ax.set_title("title", fontsize=pt)
    ax.tick_params(labelsize=pt)
    ax.set_xlabel("x", fontsize=pt)
    return fig


def test_shown_text_px_takes_the_font_and_the_shrink_to_the_slide():
    small = _figure(6, 4, 7)  # a page figure's 7 pt at 100 dpi: under 10 px
    assert sf.shown_text_px(small) == pytest.approx(7 * sf.SLIDE_DPI / 72, rel=1e-6)
    assert sf.shown_text_px(small) < sf.MIN_SLIDE_TEXT_PX
    wide = _figure(22, 4, 12)  # 12 pt, but twice the slide's width: shown at about half size
    assert sf.shown_text_px(wide) < 12 * sf.SLIDE_DPI / 72 * 0.7 < sf.MIN_SLIDE_TEXT_PX
    fitting = _figure(10, 5, 12)
    assert sf.shown_text_px(fitting) >= sf.MIN_SLIDE_TEXT_PX
    plt.close("all")


def test_save_slide_figure_refuses_tiny_text(tmp_path):
    with pytest.raises(sf.SlideTextError, match="at least 14 px"):
        sf.save_slide_figure(_figure(6, 4, 7), "tiny", tmp_path)
    assert not (tmp_path / "tiny.png").exists()
    path = sf.save_slide_figure(_figure(10, 5, 12), "fine", tmp_path)
    assert path.is_file() and Image.open(path).width <= sf.SLIDE_BOX[0] * 1.1


def test_export_slide_figures_are_slide_copies_with_the_quality_axis_from_the_data(tmp_path, monkeypatch):
    import pandas as pd

    from mammo_utils.export import plots as export_plots
    from mammo_utils.export.benchmark import interval_text

    record = json.loads((RESULTS / "08_export.json").read_text())
    saved = []
    original_save = sf.save_slide_figure

    def keep(fig, name, folder=None, box=sf.SLIDE_BOX):  # the figures as saved, measured before they are closed
        fig.canvas.draw()
        saved.append((name, fig.axes, sf.shown_text_px(fig), [t for ax in fig.axes for t in ax.texts]))
        return original_save(fig, name, folder, box)

    monkeypatch.setattr(sf, "save_slide_figure", keep)
    written = sf.export_slide_figures(RESULTS / "08_export.json", tmp_path)
    assert [p.stem for p in written] == list(sf.EXPORT_SLIDES) and all(p.is_file() for p in written)
    assert [len(axes) for _, axes, _, _ in saved] == [2, 1]  # size + latency, then quality alone
    # the one path of slide figures: slide_copy's size, letters of at least 14 px
    assert all(px * sf.LETTER_SHARE >= sf.MIN_SLIDE_TEXT_PX for _, _, px, _ in saved)
    table = pd.DataFrame(record["formats"]).set_index("index")
    texts = " ".join(t.get_text() for t in saved[1][3])
    assert f"Δ vs keras: {interval_text(table.loc['tflite-int8'], 'delta_auc', '+.4f')}" in texts
    quality = saved[1][1][0]
    ends = table[["breast_auc", "breast_auc_low", "breast_auc_high"]].to_numpy(float)
    left, right = quality.get_xlim()
    span = ends.max() - ends.min()
    assert left < ends.min() and right > ends.max()  # every point and interval end inside
    assert ends.min() - left <= 0.2 * span + 0.002 and right - ends.max() <= 0.2 * span + 0.002  # no empty panel
    frame = quality.get_window_extent()
    assert all(t.get_window_extent().x0 >= frame.x1 for t in saved[1][3])  # labels beside the axes, off the whiskers
    assert sf.export_slide_figures(tmp_path / "missing.json", tmp_path) == []
    page = export_plots.plot_export_formats(table)  # the notebook's page figure: what slide 15 showed before
    assert sf.shown_text_px(page) < sf.MIN_SLIDE_TEXT_PX
    plt.close("all")


def test_quality_limits_pad_the_data_range():
    import pandas as pd

    from mammo_utils.export.plots import quality_limits

    table = pd.DataFrame({"breast_auc": [0.99, 0.995], "breast_auc_low": [0.98, 0.985], "breast_auc_high": [1, 1]})
    assert quality_limits(table) == pytest.approx((0.98 - 0.003, 1.003))
    assert quality_limits(pd.DataFrame({"breast_auc": [0.5, 0.5]})) == pytest.approx((0.498, 0.502))


def test_diagrams_are_drawn_at_slide_size():
    from mammo_utils.reporting.diagrams import PIPELINE_STEPS, deployment_figure, pipeline_figure

    for draw in (pipeline_figure, deployment_figure):
        fig = draw()
        assert sf.shown_text_px(fig, px_per_inch=sf.SVG_PX_PER_INCH) >= sf.MIN_SLIDE_TEXT_PX, draw.__name__
    texts = [t.get_text() for t in pipeline_figure().axes[0].texts]
    assert "data.pipeline /\nmodeling.augment" in texts  # a long module name breaks at its slash
    assert all(module.replace(" / ", " /\n") in texts for _, module in PIPELINE_STEPS)
    plt.close("all")


def test_deployment_edge_labels_stay_off_the_boxes():
    from matplotlib.patches import FancyBboxPatch

    from mammo_utils.reporting.diagrams import DEPLOYMENT_EDGES, deployment_figure

    fig = deployment_figure()
    fig.canvas.draw()
    ax = fig.axes[0]
    boxes = [p.get_window_extent() for p in ax.patches if isinstance(p, FancyBboxPatch)]
    labels = [t for t in ax.texts if t.get_text() in {label for _, _, label in DEPLOYMENT_EDGES}]
    assert len(labels) == len(DEPLOYMENT_EDGES) and "HTTP\n/v1/predict" in [t.get_text() for t in labels]
    overlaps = [t.get_text() for t in labels for b in boxes if t.get_window_extent().overlaps(b)]
    assert not overlaps, f"edge labels over a box: {overlaps}"
    plt.close("all")


def test_froc_rate_labels_are_dark_and_readable():
    from matplotlib.colors import to_rgb

    from mammo_utils.detection.plots import plot_froc

    fpi = np.linspace(0, 0.45, 30)
    fig = plot_froc({"seed 0": (fpi, np.minimum(0.8, fpi * 3))})
    labels = [t for t in fig.axes[0].texts if t.get_text().endswith("FP/image")]
    assert [t.get_text() for t in labels] == ["0.1 FP/image", "0.25 FP/image", "0.4 FP/image"]
    assert all(t.get_fontsize() >= 10 and max(to_rgb(t.get_color())) < 0.3 for t in labels)
    plt.close("all")


def _page(tmp_path: Path) -> Path:
    """A page shaped like the web app's screenshot: grey sidebar, tinted banner, two text lines, a black-framed
    image, a caption."""
    page = np.full((600, 1000, 3), 255, np.uint8)
    page[:, :200] = (240, 242, 246)  # sidebar
    page[100:130, 40:150] = 40  # sidebar text
    page[40:80, 260:980] = (255, 249, 225)  # banner
    page[52:66, 280:700] = (120, 90, 20)  # banner text
    page[100:112, 260:400] = 50  # "L-CC · example.dcm"
    page[130:142, 260:520] = 50  # the decision line (wider than the image)
    page[160:500, 260:480] = 0  # the image's black frame
    page[200:460, 280:460] = 128  # the breast
    page[530:540, 260:700] = 120  # caption
    path = tmp_path / "web_app.png"
    Image.fromarray(page).save(path)
    return path


def test_web_app_result_keeps_the_decision_the_image_and_its_notes(tmp_path):
    page = _page(tmp_path)
    # from the first line under the banner to the caption under the image (the heat-map's label), as wide as it
    assert sf.web_app_cut(page, margin=10) == (250, 90, 710, 550)
    cut = Image.open(io.BytesIO(sf.web_app_result(page, margin=10)))
    factor = min(sf.SPLIT_BOX[0] / 460, sf.SPLIT_BOX[1] / 460, sf.WEB_APP_SCALE)  # fitted, enlarged at most so far
    assert cut.size == (round(460 * factor), round(460 * factor))
    pixels = np.asarray(cut.convert("RGB"))
    assert not (pixels == (240, 242, 246)).all(axis=2).any()  # no sidebar
    assert not (pixels == (255, 249, 225)).all(axis=2).any()  # no banner
    # a tinted notice between the decision and the image (the app's heat-map label, which the slide quotes as text)
    # goes, and does not widen the cut; a far footer goes too
    page_array = np.asarray(Image.open(page)).copy()
    page_array[145:158, 260:980] = (225, 236, 250)
    page_array[590:600, 260:300] = 90  # 50 white rows under the caption
    Image.fromarray(page_array).save(page)
    assert sf.web_app_layout(page, margin=10) == {"box": (250, 90, 710, 550), "skip": (145, 158)}
    cut = np.asarray(Image.open(io.BytesIO(sf.web_app_result(page, margin=10))).convert("RGB"))
    assert not (np.abs(cut.astype(int) - (225, 236, 250)).max(axis=2) < 6).any()  # no notice pixels
    factor = min(sf.SPLIT_BOX[0] / 460, sf.SPLIT_BOX[1] / (460 - 13), sf.WEB_APP_SCALE)
    assert cut.shape[:2] == (round((460 - 13) * factor), round(460 * factor))  # 13 rows shorter, as wide
    blank = tmp_path / "blank.png"
    Image.new("RGB", (300, 200), "white").save(blank)
    assert sf.web_app_result(blank) is None and sf.web_app_result(tmp_path / "none.png") is None


def test_web_app_result_of_the_built_screenshot_keeps_the_decision_and_the_caption():
    shot = RESULTS.parent / "figures" / "web_app.png"
    if not shot.is_file():
        pytest.skip("no web-app screenshot in reports/figures")
    full = Image.open(shot)
    # shown whole in the slide's box the page's text shrinks below 14 px
    assert min(sf.SLIDE_BOX[0] / full.width, sf.SLIDE_BOX[1] / full.height) * sf.WEB_APP_TEXT_PX < sf.MIN_SLIDE_TEXT_PX
    left, top, right, bottom = sf.web_app_cut(shot)
    rgb = np.asarray(full.convert("RGB")).astype(int)[:, left:right]
    image_bottom = int((rgb.max(axis=2) < 16).any(axis=1).nonzero()[0][-1])
    assert bottom > image_bottom + 20  # the caption under the image is kept
    skip = sf.web_app_layout(shot)["skip"]
    height = bottom - top - (skip[1] - skip[0] if skip else 0)  # the notice's rows go
    factor = min(sf.SPLIT_BOX[0] / (right - left), sf.SPLIT_BOX[1] / height, sf.WEB_APP_SCALE)
    shown = Image.open(io.BytesIO(sf.web_app_result(shot)))
    assert shown.width <= sf.SPLIT_BOX[0] and shown.height <= sf.SPLIT_BOX[1]
    assert shown.height == pytest.approx(height * factor, abs=1)  # the PNG is that size: no browser shrink
    # its text (Streamlit's 16 px) is shown at three quarters of its size or more: the notice no longer sets the width
    assert factor * sf.WEB_APP_TEXT_PX >= 0.75 * sf.WEB_APP_TEXT_PX


def test_champion_slide_confusion_is_drawn_for_the_split_slide(tmp_path):
    confusion = json.loads((RESULTS / "champion_eval.json").read_text())["confusion"]
    path = sf.champion_slide_confusion(confusion, "Exported champion, test breasts", tmp_path)
    assert path.name == f"{sf.CHAMPION_SLIDE}.png"
    width, height = Image.open(path).size
    assert width <= sf.SPLIT_BOX[0] * 1.05 and height <= sf.SPLIT_BOX[1]  # shown at about its own size: >= 14 px


def test_slide_copy_raises_a_page_figure_text_to_the_slide_minimum(tmp_path):
    fig = _figure(14, 6, 7)  # wider than the slide, 7 pt: about 7 px once shrunk
    fig.axes[0].plot([0, 1], [1, 0], label="line")
    fig.axes[0].legend(fontsize=7)
    assert sf.shown_text_px(fig) < sf.MIN_SLIDE_TEXT_PX
    with pytest.raises(sf.SlideTextError):
        sf.save_slide_figure(_figure(14, 6, 7), "page", tmp_path)
    sf.slide_copy(fig)
    assert tuple(fig.get_size_inches() * sf.SLIDE_DPI) == pytest.approx(sf.SLIDE_BOX)
    assert sf.shown_text_px(fig) >= sf.MIN_SLIDE_TEXT_PX
    # the letters a reader measures (not only the font size) reach 14 px: an 11-point copy's did not
    assert sf.shown_text_px(fig) * sf.LETTER_SHARE >= sf.MIN_SLIDE_TEXT_PX
    assert sf.shown_text_px(sf.slide_copy(_figure(14, 6, 7), points=11)) * sf.LETTER_SHARE < sf.MIN_SLIDE_TEXT_PX
    assert sf.save_slide_figure(fig, "page_slide", tmp_path).is_file()


def test_the_deck_shows_a_slide_copy_when_built_else_the_page_figure(tmp_path):
    from mammo_utils.reporting.slides import _page_or_slide

    (tmp_path / "06_search.png").write_bytes(b"page")
    assert _page_or_slide(tmp_path, "06_search").name == "06_search.png"
    (tmp_path / "06_search_slide.png").write_bytes(b"slide")
    assert _page_or_slide(tmp_path, "06_search").name == "06_search_slide.png"


def test_slide_copy_wraps_panel_titles_that_would_run_into_each_other(tmp_path):
    """02's crop grid: four panels whose titles fit the page at 9 pt overlap at the slide's 14 pt unless wrapped."""
    from mammo_utils.evaluation.plots import image_grid

    images = [np.random.default_rng(i).random((120, 90)) for i in range(4)]
    titles = ["L-CC: crop 280x346 of 416x512", "L-MLO: crop 239x476 of 416x512", "L-CC crop", "L-MLO crop"]
    fig = sf.slide_copy(image_grid(images, titles, [[]] * 4, 4, "Originals and crops"))
    assert "\n" in fig.axes[0].get_title() and "\n" not in fig.axes[2].get_title()
    path = sf.save_slide_figure(fig, "02_crops_slide", folder=tmp_path)  # the readability check passes
    assert path.is_file()
