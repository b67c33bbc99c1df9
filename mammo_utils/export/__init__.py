"""Export a classifier to SavedModel / ONNX / TFLite (:mod:`.convert`), run the exports (:mod:`.runtime`) and
measure them (:mod:`.benchmark`). See :mod:`mammo_utils.export.convert` for the folder layout.
"""

from .runtime import ARTIFACT, FILES, FORMATS, ExportError, load_artifact, open_runner

__all__ = ["ARTIFACT", "FILES", "FORMATS", "ExportError", "load_artifact", "open_runner"]
