"""Data layer: RSNA layout (``rsna``), embedded dataset (``synthetic``), DICOM reading (``dicom``), breast crop
(``roi``), the PNG cache (``preprocess``), patient-grouped splits (``splits``) and tf.data input (``pipeline``).

May import: ``mammo_utils.constants``, ``config``, ``utils``. Imported by every layer above.
"""
