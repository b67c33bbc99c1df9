"""Every figure the notebooks publish, built from small real inputs, passes the figure check that ``save_fig`` runs.

Inputs: the embedded synthetic dataset (01, 02, 03), the numbers the last rebuild recorded in
``reports/results/*.json`` (05, 08) and small frames shaped like the notebooks' (04, 06, 07). Each figure goes
through :func:`mammo_utils.evaluation.plots.save_fig` into a temporary folder, so a readability fault fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mammo_utils.evaluation import eda, eda_plots, plots
from mammo_utils.evaluation.subgroups import age_band

RESULTS = Path(__file__).resolve().parent.parent / "reports" / "results"


@pytest.fixture(autouse=True)
def _strict(monkeypatch):
    monkeypatch.setenv("MAMMO_FIGURE_CHECK", "raise")
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def frame(synth_root):
    from mammo_utils.data.rsna import load_train

    return load_train(synth_root)


def _save(fig, name, tmp_path):
    plots.save_fig(fig, name, tmp_path)  # raises FigureReadabilityError with the faults
    assert (tmp_path / f"{name}.png").stat().st_size > 0


def _save_slide(fig, name, tmp_path):
    """Save the slide copy of a page figure (``<name>_slide``): its text must show at 14 px or more at 1280x720."""
    from mammo_utils.reporting.slide_figures import MIN_SLIDE_TEXT_PX, save_slide_figure, shown_text_px, slide_copy

    assert shown_text_px(slide_copy(fig)) >= MIN_SLIDE_TEXT_PX
    assert save_slide_figure(fig, f"{name}_slide", tmp_path).stat().st_size > 0  # also passes save_fig's check


def test_eda_figures(frame, tmp_path):
    balance = eda.class_balance(frame)
    overall = balance.loc["breasts", "rate"]
    _save(eda_plots.plot_class_balance(balance), "01_class_balance", tmp_path)
    tables = {
        "site_id": eda.rate_by(frame, "site_id"),
        "machine_id": eda.rate_by(frame, "machine_id"),
        "age band": eda.rate_by(frame.assign(**{"age band": frame.age}), "age band", bands=age_band),
    }
    tables2 = {c: eda.rate_by(frame, c) for c in ["density", "view", "implant"]}
    for min_breasts in (20, 2):  # the notebook's threshold (most groups too small here) and one that draws bars
        _save(eda_plots.plot_rates(tables, overall, "by acquisition", min_breasts), "01_rate_by_site", tmp_path)
        _save(eda_plots.plot_rates(tables2, overall, "by density", min_breasts), "01_rate_by_density", tmp_path)
    _save(eda_plots.plot_views(frame, eda.views_per_patient(frame)), "01_views", tmp_path)
    _save(eda_plots.plot_by_label(frame), "01_age_birads_by_label", tmp_path)
    intensity = eda.intensity_by_machine(frame, per_machine=2, max_size=64, seed=0)
    _save(eda_plots.plot_intensity_by_machine(intensity), "01_intensity_by_machine", tmp_path)
    odd = intensity.machine_id.iloc[0]  # one machine made much darker stands out, the rest share one grey entry
    shifted = intensity.assign(
        intensity=np.where(intensity.machine_id == odd, intensity.intensity * 0.3, intensity.intensity)
    )
    fig = eda_plots.plot_intensity_by_machine(shifted)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(t.startswith(f"machine {odd} (") and "TV" in t for t in labels), labels
    assert any("machines alike" in t for t in labels) and len(labels) < intensity.machine_id.nunique()


def test_rare_views_are_readable_beside_cc_and_mlo():
    from mammo_utils.evaluation.figure_check import hidden_bars

    counts = {("L", "CC"): 415, ("R", "CC"): 423, ("L", "MLO"): 405, ("R", "MLO"): 411, ("L", "AT"): 3, ("R", "ML"): 1}
    rows = [(f"p{i % 300}", side, view) for (side, view), n in counts.items() for i in range(n)]
    df = pd.DataFrame(rows, columns=["patient_id", "laterality", "view"])
    fig = eda_plots.plot_views(df, eda.views_per_patient(df))
    ax = fig.axes[1]
    assert ax.get_yscale() == "log" and hidden_bars(ax, min_px=8) == []
    printed = sorted(int(t.get_text()) for t in ax.texts)
    assert printed == sorted([*counts.values(), 0, 0])  # 4 views x 2 sides: every count, the 2 zeros included
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == ["CC", "MLO"]  # most common first


def test_rate_panels_with_one_group_are_left_out_and_named():
    t = pd.DataFrame(
        {"breasts": [100, 100], "positives": [20, 30], "rate": [0.2, 0.3], "ci_low": [0.1, 0.2], "ci_high": [0.3, 0.4]},
        index=["A", "B"],
    )
    one = t.iloc[:1]
    fig = eda_plots.plot_rates({"density": t, "implant": one}, 0.25, "rates")
    assert [ax.get_title() for ax in fig.axes] == ["by density"]
    assert "implant (1 group(s) with >= 20 breasts)" in fig.get_suptitle()


def test_image_grids_and_split_balance(frame, synth_root, tmp_path):
    from mammo_utils.data.dicom import read_dicom
    from mammo_utils.data.splits import make_splits, split_table

    rows = frame.head(8)
    images = [read_dicom(p, max_size=128) for p in rows.path]
    titles = [
        f"{'CANCER' if r.cancer else 'normal'} {r.laterality}-{r.view} site {r.site_id} m{r.machine_id}"
        for r in rows.itertuples()
    ]
    _save(plots.image_grid(images, titles, ncols=4, title="Sample mammograms"), "01_samples", tmp_path)
    _save_slide(plots.image_grid(images[:4], titles[:4], ncols=4, title="Sample mammograms"), "01_samples", tmp_path)
    crops = plots.image_grid(images[:2] * 2, titles[:2] * 2, [[(5, 5, 60, 60)]] * 2 + [[]] * 2, 2, "crops")
    _save_slide(crops, "02_crops", tmp_path)
    _save(plots.image_grid(images, [f"label {c}" for c in rows.cancer], ncols=8, title="batch"), "03_batch", tmp_path)
    splits = make_splits(frame, n_folds=2, test_size=0.3, seed=0)
    fig = eda_plots.plot_split_balance(split_table(splits))
    _save(fig, "03_split_balance", tmp_path)
    _save_slide(eda_plots.plot_split_balance(split_table(splits)), "03_split_balance", tmp_path)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[-1].startswith("test\n") and "breasts" in labels[-1] and "patients" in labels[-1]


def test_training_and_search_figures(tmp_path):
    from mammo_utils.evaluation.metrics import binary_report
    from mammo_utils.modeling import plots as train_plots

    history = pd.DataFrame(
        {
            "epoch": range(6),
            "loss": np.linspace(1, 0.4, 6),
            "val_loss": np.linspace(1, 0.5, 6),
            "val_breast_auc": np.linspace(0.5, 0.9, 6),
            "val_pf1": np.linspace(0.2, 0.5, 6),
        }
    )
    histories = {f"seed {s}": history for s in range(3)}
    _save(train_plots.plot_validation_curves(histories, "validation curves"), "04_learning_curves", tmp_path)
    _save_slide(train_plots.plot_validation_curves({"seed 0": history}, "curves"), "04_learning_curves", tmp_path)
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(60), np.ones(20)]
    report = binary_report(y, np.clip(y * 0.4 + rng.uniform(0, 0.6, 80), 0, 1), 0.5)
    _save(plots.plot_confusion(report, "Baseline, test set"), "04_confusion_test_breast", tmp_path)
    from mammo_utils.reporting.champion import roc_points

    scores = np.clip(y * 0.4 + rng.uniform(0, 0.6, 80), 0, 1)
    roc = roc_points(y.astype(int), scores)
    assert roc["fpr"][0] == 0 and roc["tpr"][-1] == 1 and roc["thresholds"][0] is None  # JSON-safe first point
    fig = plots.plot_roc(roc["fpr"], roc["tpr"], {"frozen threshold 0.500": (0.2, 0.8)}, "champion, test breasts")
    _save(fig, "champion_roc_test_breast", tmp_path)
    near_perfect = plots.plot_roc([0, 0, 0.01, 1], [0, 0.93, 1, 1], {"frozen threshold 0.255": (0, 0.93)}, "champion")
    _save(near_perfect, "champion_roc_near_perfect", tmp_path)  # the curve hugs the corner: the legend must move
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "frozen threshold 0.500: sens 0.800, spec 0.800" in legend
    reports = {f"efficientnet_lite0 source-pretrained, seed {s}": report for s in range(5)}
    _save(plots.plot_confusions(reports, "Test confusion matrices per run", columns=4), "05_confusion", tmp_path)
    runs = pd.DataFrame(json.loads((RESULTS / "05_transfer.json").read_text())["runs"]).set_index(["variant", "seed"])
    _save(train_plots.plot_variants(runs), "05_model_comparison", tmp_path)
    _save_slide(train_plots.plot_variants(runs), "05_model_comparison", tmp_path)
    trials = pd.DataFrame(
        {
            "objective": [0.52, 0.65, 0.91, 0.55, 0.63],
            "epochs": 3,
            "learning_rate": [2.1e-4, 1.9e-3, 1.6e-3, 2.4e-4, 5.5e-4],
            "dropout": [0.2, 0.3, 0.1, 0.2, 0.4],
            "pooling": ["gem", "gem", "gem", "gem", "max"],
            "loss": ["focal", "bce", "bce", "focal", "focal"],
            "backbone": ["baseline"] * 5,
        },
        index=pd.Index([f"t{i}" for i in range(5)], name="trial"),
    )
    fig = train_plots.plot_search(trials, "val_breast_auc")
    _save(fig, "06_search", tmp_path)
    _save_slide(train_plots.plot_search(trials, "val_breast_auc"), "06_search", tmp_path)
    assert "backbone=baseline" in fig.get_suptitle()
    assert "backbone" not in [ax.get_xlabel() for ax in fig.axes]


def _detections(n, h=128, w=64):
    rng = np.random.default_rng(1)
    truths = [{"boxes": np.array([[10, 20, 30, 45]])} for _ in range(n)]
    dets = [
        {
            "boxes": np.array([[11, 21, 29, 44], [15, 80, 35, 100]]),
            "scores": np.array([0.6, 0.3 if i % 2 else 0.01]),
            "classes": np.array([i % 3, 1]),
        }
        for i in range(n)
    ]
    yy, xx = np.mgrid[:h, :w]
    heats = np.stack([np.exp(-((yy - 30 - 5 * i) ** 2 + (xx - 20) ** 2) / 200) * rng.uniform(0.2, 1) for i in range(n)])
    return truths, dets, heats


def test_grid_picks_a_recalled_and_a_missed_cancer_and_a_normal_by_the_median_p():
    import pandas as pd

    from mammo_utils.detection import plots as dplots

    box, none = np.ones((1, 4)), np.zeros((0, 4))
    frame = pd.DataFrame(
        {
            "patient_id": [1, 1, 2, 3, 4, 5, 6, 7],
            "laterality": ["L", "L", "R", "L", "R", "L", "R", "L"],
            "view": ["CC", "MLO", "CC", "CC", "MLO", "CC", "CC", "MLO"],
            "cancer": [1, 1, 1, 1, 1, 0, 0, 0],
            "boxes": [box, box, box, box, box, none, none, none],
        }
    )
    p = [0.9, 0.1, 0.8, 0.05, 0.15, 0.3, 0.01, 0.02]
    # breast 1-L: mean 0.5 (recalled, two images), 2-R 0.8 (recalled), 3-L 0.05 and 4-R 0.15 (missed at 0.191)
    order, titles = dplots.outcome_order(frame, p, 0.191)
    assert order.tolist() == [2, 3, 7]  # median image p of each group: recalled, missed, cancer-free
    assert titles[0].endswith("breast p=0.80 ≥ 0.191: recall") and "image p=0.80" in titles[0]
    assert titles[1].endswith("breast p=0.05 < 0.191: no recall")
    assert titles[2].startswith("L-MLO no cancer")
    assert dplots.outcome_order(frame, p, 0.191, per_group=2)[0].tolist() == [1, 0, 3, 4, 6, 5]  # lower, upper
    # the image p of 1-L's second view is 0.10, under the threshold, but its breast is recalled
    assert "image p=0.10" in dplots.outcome_order(frame, p, 0.191, per_group=3)[1][0]


def test_detection_figures(frame, tmp_path):
    from mammo_utils.data.dicom import read_dicom
    from mammo_utils.detection import plots as dplots

    images = np.stack([np.asarray(read_dicom(p, max_size=128))[:128, :64] for p in frame.path.head(8)])
    images = np.pad(images, ((0, 0), (0, 128 - images.shape[1]), (0, 64 - images.shape[2])))
    truths, dets, heats = _detections(8)
    classes = ["mass", "spiculated_mass", "calcification_cluster"]
    titles = [f"L-CC p={p:.2f}" for p in np.linspace(0, 1, 8)]
    _save(dplots.plot_detection_grid(images, truths, dets, heats, classes, titles, 0.05), "07_grid", tmp_path)
    _save(dplots.plot_detection_grid(images[:3], truths, dets, None, classes, titles, 0.5), "07_grid_nocam", tmp_path)
    wide = dplots.plot_detection_grid(images, truths, dets, heats, classes, titles, 0.05, max_width=17)
    _save(wide, "07_grid_wide", tmp_path)
    page_w, page_h = plt.imread(tmp_path / "07_grid.png").shape[1::-1]
    wide_w, wide_h = plt.imread(tmp_path / "07_grid_wide.png").shape[1::-1]
    assert page_h > page_w and wide_w > 1.5 * wide_h  # a slide gets four pairs a row, a page two
    from mammo_utils.reporting.slide_figures import MIN_SLIDE_TEXT_PX, save_slide_figure, shown_text_px

    assert shown_text_px(wide) < MIN_SLIDE_TEXT_PX  # the page-sized wide grid is what made slide 14 unreadable
    slide = dplots.plot_slide_detection_grid(images, truths, dets, heats, classes, titles, 0.05)
    captions = [sub._suptitle.get_text() for sub in slide.subfigs[0].subfigs if sub._suptitle is not None]
    assert len(captions) == 3 and captions[-1].startswith(titles[-1])  # two lesion images, then the last one
    assert shown_text_px(slide) >= MIN_SLIDE_TEXT_PX  # every caption and tick at least 14 px on a 1280x720 slide
    assert save_slide_figure(slide, "07_grid_slide", tmp_path).is_file()
    notebook = dplots.plot_detection_grid(images[:6], truths, dets, heats, classes, titles, 0.05, ncols=3,
                                          max_width=11.5, subtitle="picked: a rule")  # fmt: skip
    _save(notebook, "07_grid_nb", tmp_path)
    nb_w, nb_h = plt.imread(tmp_path / "07_grid_nb.png").shape[1::-1]
    assert nb_h <= 1.5 * nb_w  # 07's own grid: 3 pairs a row, not 2 pairs in 4 tall rows
    assert notebook._suptitle.get_text().endswith("picked: a rule")
    _save(
        dplots.plot_box_mapping(images[0], truths[0]["boxes"], images[1], truths[1]["boxes"], "mapping"),
        "07_bm",
        tmp_path,
    )
    history = {
        "loss": list(np.geomspace(1000, 3, 8)),
        "box_loss": list(np.geomspace(4, 2, 8)),
        "class_loss": list(np.geomspace(1000, 1, 8)),
        "val_map50": [0, 0, 0.15, 0.13, 0.22, 0.19, 0.26, 0.3],
    }
    scaled = [{**history, "val_map50": list(np.asarray(history["val_map50"]) * (1 - s / 5))} for s in range(3)]
    records = [{"seed": s, "best_epoch": 8 - s, "history": scaled[s]} for s in range(3)]
    fig = dplots.plot_detector_history(records, 1, "YOLOv8 over 3 seeds")
    _save(fig, "07_detector_training", tmp_path)
    # every seed is drawn (not only the chosen one), its kept epoch starred, the chosen seed named in the legend
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert labels == ["seed 0", "seed 1 (chosen)", "seed 2"]
    stars = [line for line in fig.axes[1].get_lines() if line.get_marker() == "*"]
    assert [float(line.get_xdata()[0]) for line in stars] == [8, 7, 6]
    from mammo_utils.detection.metrics import FROC_RATES

    end = (FROC_RATES[-2] + FROC_RATES[-1]) / 2  # a curve ending between the last two rates
    fpi = np.r_[0, np.sort(np.random.default_rng(0).uniform(0, end, 60)), end]
    fig = dplots.plot_froc({"YOLOv8 detector (seed 0)": (fpi, np.minimum(0.8, 1 - np.exp(-fpi / 0.12)))})
    _save(fig, "07_froc", tmp_path)
    ax = fig.axes[0]
    assert ax.get_xlim()[1] == pytest.approx(end * 1.05)  # the measured range, not the last rate
    assert f"not reached, no value reported: {FROC_RATES[-1]:g} FP/image" in ax.get_title()
    marked = [t.get_text() for t in ax.texts]
    assert marked == [f"{r:g} FP/image" for r in FROC_RATES[:-1]]  # the rates inside the curve are marked


def test_export_and_drift_figures(tmp_path):
    from mammo_utils.export import plots as export_plots
    from mammo_utils.monitoring import plots as monitor_plots

    record = json.loads((RESULTS / "08_export.json").read_text())
    table = pd.DataFrame(record["formats"]).set_index("index")
    fig = export_plots.plot_export_formats(table)
    _save(fig, "08_export_formats", tmp_path)
    # the report shows it at its own size (at most ~1,000 px wide at save_fig's 110 dpi): no text under 10 pt there
    from matplotlib.text import Text

    assert fig.get_size_inches()[0] * 110 <= 1018
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert min(sizes) >= 10 and fig.axes[2].get_title() == "test breast ROC-AUC [95% CI]"  # it plots AUC, not Δ
    from mammo_utils.evaluation.figure_check import hidden_bars

    latency = fig.axes[1]
    assert latency.get_xscale() == "log" and hidden_bars(latency) == [] and hidden_bars(fig.axes[0]) == []
    shown = " ".join(t.get_text() for t in fig.axes[2].texts)
    from mammo_utils.evaluation.metrics import format_with_interval

    int8 = table.loc["tflite-int8"]
    limits = (int8.delta_auc_low, int8.delta_auc_high)
    assert f"Δ vs keras: {format_with_interval(int8.delta_auc, limits, '+.4f')}" in shown
    assert "-0.0000" not in shown  # a limit that rounds to zero prints +0.0000
    # four decimals: a lower limit just below zero keeps its minus sign (three printed +0.002 [+0.000, +0.007])
    low_int8 = table.assign(delta_auc=0.0024, delta_auc_low=-0.0002, delta_auc_high=0.0075).loc[["tflite-int8"]]
    text = " ".join(t.get_text() for t in export_plots.plot_export_formats(low_int8).axes[2].texts)
    assert "+0.0024 [-0.0002, +0.0075]" in text
    # every row names the model its change is measured against: the pruned copy's Keras model, once measured
    # against the unpruned one (08 records delta_against), is no longer shown as the reference of its own change
    from mammo_utils.export.benchmark import delta_reference

    own = sum(delta_reference(name, row) == name for name, row in table.iterrows())
    assert "Δ vs pruned50+keras: " in shown and shown.count("(the reference of Δ)") == own
    measured = table.assign(delta_against=["keras"] * 6 + ["pruned50+keras"])
    measured.loc["pruned50+keras", ["delta_auc", "delta_auc_low", "delta_auc_high"]] = [0.0021, -0.0003, 0.0061]
    fig = export_plots.plot_export_formats(measured)
    _save(fig, "08_export_formats_measured", tmp_path)
    labels = [t.get_text() for t in fig.axes[2].texts]
    assert (
        labels[5].endswith("Δ vs keras: +0.0021 [-0.0003, +0.0061]") and sum("(the reference" in x for x in labels) == 1
    )
    drift = {name: pd.DataFrame(rows).set_index("feature") for name, rows in record["drift"].items()}
    limits = record["drift_thresholds"]
    fig = monitor_plots.plot_drift(drift, limits["stable"], limits["drift"], "PSI per feature against the reference")
    _save(fig, "08_drift", tmp_path)
    constant = [f for f in drift[next(iter(drift))].index if all(d.psi.get(f, 1) == 0 for d in drift.values())]
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels.count("PSI 0\nin every\nwindow") == len(constant)  # a zero PSI is said, not an invisible bar
    stable_y = fig.axes[0].transData.transform((0, limits["stable"]))[1]
    renderer = fig.canvas.get_renderer()
    assert all(t.get_window_extent(renderer).y1 < stable_y for t in fig.axes[0].texts)  # under both threshold lines
