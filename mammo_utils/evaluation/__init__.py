"""Evaluation layer: metrics, evaluation of predictions (image and per breast), EDA tables (:mod:`.eda`) and
figures (:mod:`.eda_plots`), figures every stage shares (:mod:`.plots`), Grad-CAM (:mod:`.explain`) and the
drift statistics (:mod:`.drift`: PSI, KS, the one verdict; pure NumPy/SciPy, so export, serving and monitoring
all use them from here).

May import: ``data`` and the base modules (never ``modeling``: the trainer calls evaluation, not the reverse).
"""
