"""Data layer: RSNA layout and the one ``boxes.csv`` reader (``rsna``), embedded dataset (``synthetic``), DICOM
reading and the one preamble check (``dicom``), breast crop (``roi``), the PNG cache (``preprocess``),
patient-grouped splits (``splits``), tf.data input (``pipeline``), the Kaggle/mirror download (``download``)
and ``prepare`` (dataset, cache, splits and leakage check: where every stage starts).

May import: ``mammo_utils.constants``, ``config``, ``utils``. Imported by every layer above.
"""
