"""Export a classifier to SavedModel / ONNX / TFLite (:mod:`.convert`), run the exports (:mod:`.runtime`),
measure them (:mod:`.benchmark`) and plot the comparison (:mod:`.plots`). See :mod:`mammo_utils.export.convert`
for the folder layout; the folder's readers (``model.json``, ``reference.json``) are
:mod:`mammo_utils.modeling.artifact`, and models are loaded by :func:`mammo_utils.modeling.resolve.resolve_model`.

May import: data, evaluation, modeling and the base modules (no other package of its layer).
"""

from .runtime import ARTIFACT, FILES, FORMATS, ExportError, load_artifact, open_runner

__all__ = ["ARTIFACT", "FILES", "FORMATS", "ExportError", "load_artifact", "open_runner"]
