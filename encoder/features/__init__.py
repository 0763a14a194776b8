"""Per-epoch PSG features (sleeplm.encoder.features).

Entry point: :func:`compute_epoch_features`; column units in :data:`FEATURE_COLUMNS`.
"""

from sleeplm.encoder.features._common import parse_trend_string
from sleeplm.encoder.features.table import (
    FEATURE_COLUMNS,
    compute_epoch_features,
    default_onsets_s,
    epoch_stages,
)

__all__ = ["FEATURE_COLUMNS", "compute_epoch_features", "default_onsets_s", "epoch_stages",
           "parse_trend_string"]
