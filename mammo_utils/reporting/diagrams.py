"""Architecture diagrams drawn by code (matplotlib -> SVG), so they change with the code, not by hand.

Both are drawn at the size a 1280 by 720 slide shows them (:data:`DIAGRAM_SIZE`, inches at 96 CSS pixels each), with
no text under :data:`MODULE_PT` points, so their smallest text is at least 14 pixels on a slide.

- :func:`pipeline_diagram`: data -> preprocessing -> splits -> training/tuning/detection -> registry -> export ->
  serving -> monitoring -> retraining (the life-cycle, with the module that owns each step);
- :func:`deployment_diagram`: the services of ``deploy/compose.yaml`` and the Azure ML specs.
"""

from __future__ import annotations

from pathlib import Path

#: Inches of a diagram: the figure box of a slide at 1280 by 720 (1126 x 560 pixels) at 96 CSS pixels an inch.
DIAGRAM_SIZE = (11.6, 5.2)
#: Inches of the deployment diagram: as wide, less tall (two rows of boxes), so it fits under the slide's bullets
#: without being shrunk.
DEPLOYMENT_SIZE = (11.6, 4.4)
#: Points of a box's label, and of the module or detail line under it, the edge labels and the footnote.
LABEL_PT, MODULE_PT = 13.0, 13.0

#: (label, owning module) of the pipeline's steps, in order (drawn left to right, two rows).
PIPELINE_STEPS: tuple[tuple[str, str], ...] = (
    ("RSNA DICOMs\n+ train.csv", "data.rsna / data.download"),
    ("decode, VOI,\nMONOCHROME1", "data.dicom"),
    ("breast crop,\nfit & pad", "data.roi / data.preprocess"),
    ("PNG cache\n(resumable)", "data.preprocess"),
    ("patient-grouped\nsplits", "data.splits"),
    ("tf.data +\naugmentation", "data.pipeline / modeling.augment"),
    ("train / tune /\ndetect", "modeling / detection"),
    ("MLflow runs\n+ registry", "modeling.tracking"),
    ("export ONNX /\nTFLite + parity", "export"),
    ("FastAPI +\nStreamlit", "serving"),
    ("Prometheus,\ndrift, feedback", "monitoring"),
    ("retrain\n+ gate", "workflows.retrain"),
)

#: (name, x, y, detail) of the deployment's components.
DEPLOYMENT_NODES: tuple[tuple[str, float, float, str], ...] = (
    ("browser", 0.1, 0.75, "radiologist / researcher"),
    ("Streamlit app", 0.37, 0.75, "mammo app :8501"),
    ("FastAPI (uvicorn)", 0.64, 0.75, "mammo serve :8000\nONNX Runtime + detector"),
    ("export folder", 0.64, 0.35, "model.json, model.onnx,\ndetector/, reference.json"),
    ("MLflow", 0.37, 0.35, "tracking + registry :5000"),
    ("Prometheus", 0.91, 0.75, "scrapes /metrics :9090\nalert rules"),
    ("Grafana", 0.91, 0.35, "dashboard :3000"),
    ("Azure ML", 0.1, 0.35, "train job, managed\nonline endpoint"),
)
DEPLOYMENT_EDGES: tuple[tuple[str, str, str], ...] = (
    ("browser", "Streamlit app", "upload"),
    ("Streamlit app", "FastAPI (uvicorn)", "HTTP\n/v1/predict"),  # two lines: the gap between the boxes is narrow
    ("FastAPI (uvicorn)", "export folder", "loads"),
    ("MLflow", "export folder", "mammo\nexport\n(champion)"),  # narrow lines: the gap between the boxes is narrow
    ("Prometheus", "FastAPI (uvicorn)", "scrape"),
    ("Grafana", "Prometheus", "query"),
    ("Azure ML", "MLflow", "same specs"),
)


def _box(ax, x, y, w, h, text, sub, colour):
    """A rounded box with a bold label, and ``sub`` under it (one line per `` / ``-separated part)."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.01", fc=colour, ec="#333333"))
    ax.text(x, y, text, ha="center", va="center", fontsize=LABEL_PT, weight="bold")
    ax.text(x, y - h / 2 - 0.03, sub.replace(" / ", " /\n"), ha="center", va="top", fontsize=MODULE_PT,
            color="#444444", family="monospace")  # fmt: skip


def _canvas(size: tuple[float, float]):
    """A blank unit-square axes without frame (non-interactive backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.08, top=0.98)  # the drawing takes the whole figure
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    return fig, ax


def _save_svg(fig, path: str | Path) -> Path:
    """Write the figure as SVG without a date stamp (a rebuild gives the same file) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return path


def pipeline_diagram(path: str | Path) -> Path:
    """Draw the life-cycle as an SVG (:func:`pipeline_figure`).

    Args:
        path: Output ``.svg`` file.

    Returns:
        The path.
    """
    return _save_svg(pipeline_figure(), path)


def pipeline_figure():
    """The life-cycle: :data:`PIPELINE_STEPS` in two rows (left to right, then back), each box over its module.

    Returns:
        The matplotlib figure.
    """
    fig, ax = _canvas(DIAGRAM_SIZE)
    ax.set_xlim(-0.01, 1.01)  # the outer boxes' rounded edges stay inside the canvas
    per_row = (len(PIPELINE_STEPS) + 1) // 2
    colours = ["#d9f0d3"] * 6 + ["#c6dbef"] * 3 + ["#fdd0a2"] * 3
    points = []
    for i, ((label, module), colour) in enumerate(zip(PIPELINE_STEPS, colours)):
        row, col = divmod(i, per_row)
        x = 0.08 + col * (0.84 / (per_row - 1)) if row == 0 else 0.92 - col * (0.84 / (per_row - 1))
        y = 0.76 if row == 0 else 0.34
        _box(ax, x, y, 0.142, 0.14, label, module, colour)
        points.append((x, y))
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if y0 == y1:
            dx = 0.071 if x1 > x0 else -0.071
            ax.annotate("", (x1 - dx, y1), (x0 + dx, y0), arrowprops={"arrowstyle": "->", "color": "#333333"})
        else:
            # from below the module names under the box to the top of the next row's box
            ax.annotate("", (x1, y1 + 0.07), (x0, y0 - 0.23), arrowprops={"arrowstyle": "->", "color": "#333333"})
    (xr, yr), (xt, yt) = points[-1], points[6]
    loop = {"arrowstyle": "->", "color": "#b2182b", "connectionstyle": "arc3,rad=0.1", "ls": "--"}
    ax.annotate("", (xt, yt - 0.25), (xr, yr - 0.2), arrowprops=loop)
    ax.text(0.5, -0.08, "a retraining trigger (age, drift, sensitivity on feedback) retrains, gates and promotes",
            ha="center", fontsize=MODULE_PT, color="#b2182b")  # fmt: skip
    ax.text(0.5, 0.95, "Life-cycle: data (green) -> models (blue) -> delivery and operations (orange)", ha="center",
            fontsize=LABEL_PT + 1)  # fmt: skip
    return fig


#: Half the width of a deployment box (axes fraction); a name's bracket goes on a second line to fit it.
HALF_W = 0.07


def deployment_diagram(path: str | Path) -> Path:
    """Draw the deployment (compose services, model folder, Azure ML) as an SVG (:func:`deployment_figure`).

    Args:
        path: Output ``.svg`` file.

    Returns:
        The path.
    """
    return _save_svg(deployment_figure(), path)


def deployment_figure():
    """The deployment: :data:`DEPLOYMENT_NODES` joined by :data:`DEPLOYMENT_EDGES`, each edge labelled.

    Returns:
        The matplotlib figure.
    """
    fig, ax = _canvas(DEPLOYMENT_SIZE)
    ax.set_xlim(-0.01, 1.01)  # the outer boxes and their detail lines stay inside the canvas
    where = {}
    for name, x, y, detail in DEPLOYMENT_NODES:
        colour = "#fdd0a2" if name in ("Prometheus", "Grafana") else "#c6dbef" if name != "browser" else "#eeeeee"
        _box(ax, x, y, 2 * HALF_W, 0.12, name.replace(" (", "\n("), detail, colour)
        where[name] = (x, y)
    half_w, half_h = HALF_W, 0.06
    for a, b, label in DEPLOYMENT_EDGES:
        (x0, y0), (x1, y1) = where[a], where[b]
        if abs(y0 - y1) < 1e-9:  # same row: edge to edge, label above
            sign = 1 if x1 > x0 else -1
            start, end = (x0 + sign * half_w, y0), (x1 - sign * half_w, y1)
            ax.text((x0 + x1) / 2, y0 + 0.015, label, ha="center", va="bottom", fontsize=MODULE_PT, color="#b2182b")
        else:  # same column: bottom/top edges (below the detail text), label to the right
            sign = 1 if y1 > y0 else -1
            start, end = (
                (x0, y0 + sign * (half_h + (0.0 if sign > 0 else 0.14))),
                (x1, y1 - sign * (half_h + (0.14 if sign > 0 else 0.0))),
            )
            ax.text(x0 + 0.01, (y0 + y1) / 2 - 0.05, label, ha="left", va="center", fontsize=MODULE_PT,
                    color="#b2182b")  # fmt: skip
        ax.annotate("", end, start, arrowprops={"arrowstyle": "->", "color": "#333333"})
    ax.text(0.5, 0.97, "Deployment: deploy/compose.yaml services and deploy/azureml specs", ha="center",
            fontsize=LABEL_PT + 1)  # fmt: skip
    return fig
