"""The figure check finds each measurable fault on a figure built to have it, passes clean figures, and
``save_fig`` refuses (or, when asked, only warns about) a faulty figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from mammo_utils.evaluation import plots
from mammo_utils.evaluation.figure_check import (
    MIN_BAR_FRACTION,
    MIN_BAR_PX,
    FigureReadabilityError,
    check_figure,
    hidden_bars,
    place_legend,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _good_bars():
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.bar(["fold 0", "fold 1", "test"], [25, 26, 24], color="#0072B2", label="rate")
    ax.axhline(25, ls="--", color="k", label="all")
    ax.set(ylim=(0, 60), xlabel="split", ylabel="cancer rate (%)", title="Rate per split")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def test_clean_figures_pass():
    assert check_figure(_good_bars()) == []
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    x = np.linspace(0, 1, 50)
    axes[0].plot(x, x**2, label="square")
    axes[0].legend(loc="upper left")
    axes[1].scatter(x, 1 - x)
    axes[1].set_xscale("linear")
    for ax in axes:
        ax.set(xlabel="x", ylabel="y", title="panel")
    fig.tight_layout()
    assert check_figure(fig) == []


def test_overlapping_tick_labels_are_found():
    fig, ax = plt.subplots(figsize=(3, 3))
    names = [f"a rather long category name {i}" for i in range(6)]
    ax.bar(names, range(1, 7))
    problems = check_figure(fig)
    assert any("text overlaps text" in p and "a rather long category" in p for p in problems)


def test_rotated_labels_are_measured_turned_not_by_their_bounding_box():
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(["mean", "std", "p90", "breast_fraction", "orig_rows"], [1, 2, 3, 4, 5])
    ax.tick_params(axis="x", labelrotation=20)
    for label in ax.get_xticklabels():
        label.set_ha("right")
    ax.set(xlabel="feature", ylabel="PSI", title="drift")
    fig.tight_layout()
    assert not [p for p in check_figure(fig) if "overlaps" in p]


def test_legend_over_bars_is_found():
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(["fold 0", "fold 1", "test"], [25, 26, 24], label="rate")
    ax.axhline(25, ls="--", label="whole dataset")
    ax.set(xlabel="split", ylabel="%", title="balance")
    ax.legend(loc="lower left")
    fig.tight_layout()
    problems = check_figure(fig)
    assert any(p.startswith("legend of panel 'balance' covers bars") for p in problems), problems


def test_legend_over_points_and_error_bars_is_found():
    fig, ax = plt.subplots(figsize=(5, 4))
    y = np.arange(6)
    ax.errorbar(np.full(6, 0.2), y, xerr=0.1, fmt="o", label="test AUC")
    ax.set(xlim=(0, 1), xlabel="AUC", ylabel="run", title="runs")
    ax.legend(loc="lower left")
    problems = check_figure(fig)
    assert any("legend of panel 'runs' covers plotted points or lines" in p for p in problems), problems


def test_wide_strip_is_found():
    fig, axes = plt.subplots(1, 6, figsize=(18, 3))
    for ax in axes:
        ax.imshow(np.zeros((8, 8)), cmap="gray")
        ax.set_axis_off()
    problems = check_figure(fig)
    assert any(p.startswith("aspect ") and "past 4:1" in p for p in problems), problems


def test_one_bar_panel_is_found():
    fig, axes = plt.subplots(1, 2, figsize=(7, 3))
    axes[0].bar(["A", "B"], [1, 2])
    axes[0].set_title("by density")
    axes[1].bar([0], [3])
    axes[1].set_xticks([0], ["0"])
    axes[1].set_title("by implant")
    fig.tight_layout()
    problems = check_figure(fig)
    assert len(problems) == 1 and "panel 'by implant'" in problems[0] and "single category" in problems[0]


def test_single_named_category_on_a_scatter_is_found():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.scatter([0, 0, 0], [0.5, 0.6, 0.9])
    ax.set_xticks([0], ["baseline"])
    ax.set(xlabel="backbone", ylabel="val AUC")
    assert any("single category" in p and "'baseline'" in p for p in check_figure(fig))


def test_tiny_text_is_found():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1])
    ax.text(0.8, 0.1, "n=12", fontsize=5)
    problems = check_figure(fig)
    assert problems == ["text smaller than 7 pt: 'n=12' (5.0 pt)"]


def test_a_rare_bar_beside_a_common_one_is_hidden_unless_logged_or_printed():
    def panel(log=False, printed=False):
        fig, ax = plt.subplots(figsize=(5, 3.4))
        ax.bar(["CC", "MLO", "AT", "ML"], [415, 405, 3, 0])
        ax.set(title="views", xlabel="view", ylabel="images")
        if log:
            ax.set_yscale("log")
            ax.set_ylim(0.7, 2000)
        if printed:
            for i, n in enumerate([415, 405, 3, 0]):
                ax.text(i, n, str(n), ha="center", va="bottom", fontsize=8)
        fig.tight_layout()
        return ax

    problems = hidden_bars(panel())
    assert len(problems) == 1 and "panel 'views'" in problems[0] and "value 3 " in problems[0]  # the zero is no bar
    assert hidden_bars(panel(log=True)) == []
    assert hidden_bars(panel(printed=True)) == []
    with pytest.raises(ValueError, match="min_px"):
        hidden_bars(panel(), min_px=0)


def test_a_bar_invisible_against_its_axis_range_is_hidden_even_when_a_few_pixels_long():
    def panel(log=False):
        fig, ax = plt.subplots(figsize=(9, 2.5))
        ax.barh(["keras", "int8"], [18.2, 0.32])
        ax.set(title="latency", xlabel="ms")
        if log:
            ax.set_xscale("log")
            ax.set_xlim(0.1, 30)
        fig.tight_layout()
        return ax

    ax = panel()
    width = ax.get_window_extent().width
    length = ax.containers[0].patches[1].get_window_extent().width
    assert MIN_BAR_PX < length < MIN_BAR_FRACTION * width  # long enough in pixels, lost against the range
    problems = hidden_bars(ax)
    assert len(problems) == 1 and "value 0.32 " in problems[0]
    assert hidden_bars(ax, min_fraction=0) == []  # the pixel rule alone lets it pass
    assert hidden_bars(panel(log=True)) == []
    with pytest.raises(ValueError, match="min_fraction"):
        hidden_bars(ax, min_fraction=1)


def test_arguments_are_validated():
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="max_aspect"):
        check_figure(fig, max_aspect=0.5)
    with pytest.raises(ValueError, match="min_font"):
        check_figure(fig, min_font=0)


def test_place_legend_finds_a_free_corner_or_goes_outside():
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(["a", "b", "c"], [5, 1, 1], label="counts")
    ax.set(xlabel="group", ylabel="n", title="free corner")
    place_legend(ax)
    assert check_figure(fig) == []
    fig, ax = plt.subplots(figsize=(5, 3))
    x = np.linspace(0, 1, 200)
    for k in range(4):  # curves through every corner
        ax.plot(x, (x if k % 2 else 1 - x) * (1 - 0.02 * k), label=f"curve {k}")
    ax.set(xlabel="x", ylabel="y", title="no free corner")
    place_legend(ax)
    fig.tight_layout()
    assert check_figure(fig) == []
    with pytest.raises(ValueError, match="loc"):
        place_legend(ax, loc="best")


def test_save_fig_refuses_a_faulty_figure_and_names_it(tmp_path, monkeypatch):
    monkeypatch.delenv("MAMMO_FIGURE_CHECK", raising=False)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.text(0.5, 0.5, "tiny", fontsize=4)
    with pytest.raises(FigureReadabilityError, match=r"figure '03_bad' is not readable:\n- text smaller than 7 pt"):
        plots.save_fig(fig, "03_bad", tmp_path)
    assert not (tmp_path / "03_bad.png").exists()
    plots.save_fig(_good_bars(), "03_good", tmp_path)
    assert (tmp_path / "03_good.png").stat().st_size > 0


def test_save_fig_modes(tmp_path, monkeypatch):
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.text(0.5, 0.5, "tiny", fontsize=4)
    monkeypatch.setenv("MAMMO_FIGURE_CHECK", "warn")
    with pytest.warns(UserWarning, match="not readable"):
        plots.save_fig(fig, "warned", tmp_path)
    assert (tmp_path / "warned.png").exists()
    monkeypatch.setenv("MAMMO_FIGURE_CHECK", "off")
    plots.save_fig(fig, "unchecked", tmp_path)
    assert (tmp_path / "unchecked.png").exists()
    monkeypatch.setenv("MAMMO_FIGURE_CHECK", "sometimes")
    with pytest.raises(ValueError, match="MAMMO_FIGURE_CHECK='sometimes'"):
        plots.save_fig(fig, "bad_mode", tmp_path)


def test_image_grid_turns_a_strip_into_rows():
    images = [np.zeros((128, 64))] * 8
    fig = plots.image_grid(images, [f"label {i % 2}" for i in range(8)], ncols=8, title="8 images")
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 8 and len(fig.axes) == 8  # 2 rows x 4 columns
    assert check_figure(fig) == []
