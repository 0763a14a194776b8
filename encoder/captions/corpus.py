"""Caption corpus: every epoch's canonical + paraphrased captions per track, in Parquet.

The caller supplies nights as :class:`CorpusNight` (a night id, its feature table and its
events), so the builder does not depend on how files are read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from sleeplm.encoder.captions.facts import TRACKS, events_in_epochs
from sleeplm.encoder.captions.render import render_night
from sleeplm.encoder.io.records import EPOCH_S, Event

CORPUS_SCHEMA = pa.schema([
    ("night_id", pa.string()),
    ("epoch", pa.int32()),
    ("onset_s", pa.float64()),
    ("stage", pa.string()),
    ("track", pa.string()),
    ("variant", pa.int16()),  # 0 = canonical, 1..n = paraphrases
    ("caption", pa.string()),
])


@dataclass
class CorpusNight:
    """One night for the corpus: ``features`` from ``compute_epoch_features`` (with
    ``onset_s`` and ``stage`` columns) and the night's events (times from recording start)."""

    night_id: str
    features: pd.DataFrame
    events: list[Event] = field(default_factory=list)


def night_caption_table(night: CorpusNight, n_paraphrases: int, seed: int,
                        tracks: Iterable[str] = TRACKS, epoch_s: float = EPOCH_S) -> pd.DataFrame:
    """All captions of one night as a table with the :data:`CORPUS_SCHEMA` columns."""
    f = night.features
    evs = events_in_epochs(night.events, f["onset_s"].to_numpy(), epoch_s)
    n = len(f)
    parts = []
    for track in tracks:
        for variant in range(n_paraphrases + 1):
            caps = render_night(f, evs, track, None if variant == 0 else seed, variant)
            parts.append(pd.DataFrame({
                "night_id": night.night_id, "epoch": range(n), "onset_s": f["onset_s"].to_numpy(),
                "stage": f["stage"].astype(str).to_numpy(), "track": track, "variant": variant,
                "caption": caps}))
    out = pd.concat(parts, ignore_index=True)
    return out.astype({"epoch": "int32", "variant": "int16"})


def build_caption_corpus(items: Iterable[CorpusNight], out_parquet: str | Path, n_paraphrases: int = 3,
                         seed: int = 0, tracks: Iterable[str] = TRACKS) -> int:
    """Write every epoch's canonical (variant 0) and ``n_paraphrases`` paraphrased captions per
    track to ``out_parquet``, one row group per night; returns the number of rows written."""
    out_parquet = Path(out_parquet)
    out_parquet.parent.mkdir(parents=True, exist_ok=True)
    tracks = tuple(tracks)
    total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
    rows = 0
    with pq.ParquetWriter(out_parquet, CORPUS_SCHEMA) as w:
        for night in tqdm(items, total=total, desc="caption corpus", unit="night"):
            t = night_caption_table(night, n_paraphrases, seed, tracks)
            w.write_table(pa.Table.from_pandas(t, schema=CORPUS_SCHEMA, preserve_index=False))
            rows += len(t)
    return rows
