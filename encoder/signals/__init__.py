"""Signal processing on mapped recordings: model-input preprocessing, per-epoch features, night metrics.

Rule: signals/ imports io/ and the vocabulary only; it produces numbers, never text.
"""
