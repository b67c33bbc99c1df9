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


def test_export_slide_figures_are_large_and_print_four_decimals(tmp_path, monkeypatch):
    import pandas as pd

    from mammo_utils.export import plots as export_plots

    record = json.loads((RESULTS / "08_export.json").read_text())
    drawn = []
    original = export_plots.plot_export_formats

    def keep(*args, **kwargs):  # the figures the report draws, measured before they are closed
        fig = original(*args, **kwargs)
        drawn.append((fig, sf.shown_text_px(fig), " ".join(t.get_text() for ax in fig.axes for t in ax.texts)))
        return fig

    monkeypatch.setattr(export_plots, "plot_export_formats", keep)
    written = sf.export_slide_figures(RESULTS / "08_export.json", tmp_path)
    assert [p.stem for p in written] == list(sf.EXPORT_SLIDES) and all(p.is_file() for p in written)
    assert [len(fig.axes) for fig, _, _ in drawn] == [2, 1]  # size + latency, then quality alone
    assert all(px >= sf.MIN_SLIDE_TEXT_PX for _, px, _ in drawn)
    table = pd.DataFrame(record["formats"]).set_index("index")
    from mammo_utils.export.benchmark import interval_text

    assert f"Δ vs keras: {interval_text(table.loc['tflite-int8'], 'delta_auc', '+.4f')}" in drawn[1][2]
    assert sf.export_slide_figures(tmp_path / "missing.json", tmp_path) == []
    page = original(table)  # the notebook's page figure: what slide 15 showed before
    assert sf.shown_text_px(page) < sf.MIN_SLIDE_TEXT_PX
    plt.close("all")


def test_diagrams_are_drawn_at_slide_size():
    from mammo_utils.reporting.diagrams import PIPELINE_STEPS, deployment_figure, pipeline_figure

    for draw in (pipeline_figure, deployment_figure):
        fig = draw()
        assert sf.shown_text_px(fig, px_per_inch=sf.SVG_PX_PER_INCH) >= sf.MIN_SLIDE_TEXT_PX, draw.__name__
    texts = [t.get_text() for t in pipeline_figure().axes[0].texts]
    assert "data.pipeline /\nmodeling.augment" in texts  # a long module name breaks at its slash
    assert all(module.replace(" / ", " /\n") in texts for _, module in PIPELINE_STEPS)
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


def test_web_app_result_keeps_the_decision_and_the_image_only(tmp_path):
    cut = Image.open(io.BytesIO(sf.web_app_result(_page(tmp_path), margin=10)))
    assert cut.size == (520 - 260 + 20, 500 - 100 + 20)  # from the first line to the image's bottom
    pixels = np.asarray(cut.convert("RGB"))
    assert not (pixels == (240, 242, 246)).all(axis=2).any()  # no sidebar
    assert not (pixels == (255, 249, 225)).all(axis=2).any()  # no banner
    blank = tmp_path / "blank.png"
    Image.new("RGB", (300, 200), "white").save(blank)
    assert sf.web_app_result(blank) is None and sf.web_app_result(tmp_path / "none.png") is None


def test_web_app_result_of_the_built_screenshot_shows_its_text_at_slide_size():
    shot = RESULTS.parent / "figures" / "web_app.png"
    if not shot.is_file():
        pytest.skip("no web-app screenshot in reports/figures")
    cut = Image.open(io.BytesIO(sf.web_app_result(shot)))
    full = Image.open(shot)
    # the page's text is about 16 px: shown whole in the slide's box it shrinks below 14 px, the cut keeps 90%
    assert min(sf.SLIDE_BOX[0] / full.width, sf.SLIDE_BOX[1] / full.height) * 16 < sf.MIN_SLIDE_TEXT_PX
    assert min(1, sf.SPLIT_BOX[0] / cut.width, sf.SPLIT_BOX[1] / cut.height) >= 0.88


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
    assert sf.save_slide_figure(fig, "page_slide", tmp_path).is_file()


def test_the_deck_shows_a_slide_copy_when_built_else_the_page_figure(tmp_path):
    from mammo_utils.reporting.slides import _page_or_slide

    (tmp_path / "06_search.png").write_bytes(b"page")
    assert _page_or_slide(tmp_path, "06_search").name == "06_search.png"
    (tmp_path / "06_search_slide.png").write_bytes(b"slide")
    assert _page_or_slide(tmp_path, "06_search").name == "06_search_slide.png"
