"""The DuckDB schema of a cohort workspace (``cohort.duckdb``), declared and versioned.

==============  ===================================================================================
table           one row per
==============  ===================================================================================
workspace_info  key/value: schema version, the model that built the workspace, preprocessing version
id_counters     id kind (``recording``, ``epoch``, ``event``): the next id to hand out; ids only grow,
                so an id is never reused after a night is deleted or replaced
subjects        subject (``subject_id`` text; age, sex, bmi, phenotype, site, other attributes JSON)
recordings      ingested night (``recording_id`` = id in ``nights.faiss``): unique name, file, sha256,
                clock, duration, channel map, missing channels, annotation source, ``scoring`` (JSON: per
                kind of annotation, ``{state: manual|automatic|not scored, method, reason}``)
epochs          30-s epoch (``epoch_id`` = id in ``epochs.faiss``): recording, index, onset, clock time,
                stage, channel mask (10 booleans in SleepLM order), event types overlapping the epoch
events          scored event: type, onset/duration (s from recording start), source label, SpO2 nadir,
                ``source`` (``manual`` or ``automatic``)
features        epoch (``epoch_id``) × :data:`~sleeplm.encoder.signals.features.FEATURE_COLUMNS`
captions        epoch × track: the reference (canonical) caption
night_metrics   night: :class:`~sleeplm.encoder.signals.night.NightMetrics` as columns, plus the rendered
                summary; a night without stage scoring has a row of NULLs ("not scored", never 0)
epoch_vectors   epoch: its embedding (FLOAT[]); the FAISS index is rebuilt from this table; ``ood_score``:
                its out-of-distribution score against the model's training data (``index/ood.py``; NULL
                when the model has no reference asset)
night_vectors   night: its vector (FLOAT[]); ``ood_score``: the night's (median epoch) score
ingest_errors   file that failed: path, stage of work, message, time
==============  ===================================================================================

Every column is declared here: ``features`` follows the caption pipeline's
``FEATURE_COLUMNS`` and ``night_metrics`` the ``NightMetrics`` fields, both fixed by the
encoder version, so no table takes its columns from the first night written.
:data:`SCHEMA_VERSION` changes whenever a table changes; a workspace with another version is
refused with "made by an older (or newer) version: re-ingest".
"""

from __future__ import annotations

import dataclasses

from sleeplm.encoder.signals.features import FEATURE_COLUMNS
from sleeplm.encoder.signals.night import NightMetrics

#: Bump when any table below changes (workspaces with another version are refused).
SCHEMA_VERSION = 6  # 3: recordings.scoring, events.source (who scored what); 4: ood_score of epoch/night vectors;
#: 5: awakenings, stage shifts, REM / NREM AHI and T90 in night_metrics, spo2_below90_s in features;
#: 6: awakenings of at least 1 min, awakening and stage-shift indices, CT90 in night_metrics

#: Feature columns that hold text (everything else in ``FEATURE_COLUMNS`` is a number).
FEATURE_TEXT_COLUMNS = ("stage", "hr_trend", "spo2_trend", "position", "position_changes")

#: Kinds of id handed out by ``id_counters``.
ID_KINDS = ("recording", "epoch", "event")


def _features_ddl() -> str:
    cols = ",\n    ".join(f"{name} {'VARCHAR' if name in FEATURE_TEXT_COLUMNS else 'DOUBLE'}"
                          for name in FEATURE_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS features (\n    epoch_id BIGINT PRIMARY KEY,\n    {cols}\n);"


def night_metric_columns() -> dict[str, str]:
    """Column name -> DuckDB type of ``night_metrics`` (without ``recording_id`` and ``summary``)."""
    return {f.name: ("INTEGER" if f.type in ("int", int, "int | None") else "DOUBLE")
            for f in dataclasses.fields(NightMetrics)}


def _night_metrics_ddl() -> str:
    cols = ",\n    ".join(f"{name} {kind}" for name, kind in night_metric_columns().items())
    return (f"CREATE TABLE IF NOT EXISTS night_metrics (\n    recording_id INTEGER PRIMARY KEY,\n    {cols},\n"
            "    summary VARCHAR\n);")


DDL = """
CREATE TABLE IF NOT EXISTS workspace_info (
    key VARCHAR PRIMARY KEY,
    value VARCHAR
);
CREATE TABLE IF NOT EXISTS id_counters (
    kind VARCHAR PRIMARY KEY,
    next_id BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS subjects (
    subject_id VARCHAR PRIMARY KEY,
    age DOUBLE,
    sex VARCHAR,
    bmi DOUBLE,
    phenotype VARCHAR,
    site VARCHAR,
    attributes JSON
);
CREATE TABLE IF NOT EXISTS recordings (
    recording_id INTEGER PRIMARY KEY,
    name VARCHAR UNIQUE NOT NULL,
    subject_id VARCHAR,
    path VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    annotation_path VARCHAR,
    annotation_sha256 VARCHAR,
    annotation_source VARCHAR,
    start_time TIMESTAMP,
    duration_s DOUBLE,
    n_epochs INTEGER,
    channel_map JSON,
    missing_channels VARCHAR[],
    position_coding VARCHAR,
    repairs VARCHAR[],
    ingested_at TIMESTAMP,
    scoring JSON
);
CREATE TABLE IF NOT EXISTS epochs (
    epoch_id BIGINT PRIMARY KEY,
    recording_id INTEGER NOT NULL,
    epoch_index INTEGER NOT NULL,
    onset_s DOUBLE NOT NULL,
    clock_time TIMESTAMP,
    stage VARCHAR NOT NULL,
    channel_mask BOOLEAN[] NOT NULL,
    event_types VARCHAR[]
);
CREATE TABLE IF NOT EXISTS events (
    event_id BIGINT PRIMARY KEY,
    recording_id INTEGER NOT NULL,
    type VARCHAR NOT NULL,
    onset_s DOUBLE NOT NULL,
    duration_s DOUBLE NOT NULL,
    label VARCHAR,
    spo2_nadir DOUBLE,
    source VARCHAR
);
CREATE TABLE IF NOT EXISTS captions (
    epoch_id BIGINT NOT NULL,
    track VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    PRIMARY KEY (epoch_id, track)
);
CREATE TABLE IF NOT EXISTS epoch_vectors (
    epoch_id BIGINT PRIMARY KEY,
    vec FLOAT[] NOT NULL,
    ood_score DOUBLE
);
CREATE TABLE IF NOT EXISTS night_vectors (
    recording_id INTEGER PRIMARY KEY,
    vec FLOAT[] NOT NULL,
    ood_score DOUBLE
);
CREATE TABLE IF NOT EXISTS recording_notes (
    recording_id INTEGER NOT NULL,
    note VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS ingest_errors (
    path VARCHAR NOT NULL,
    stage VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    occurred_at TIMESTAMP NOT NULL
);
""" + _features_ddl() + "\n" + _night_metrics_ddl() + "\n"

#: Every table of the schema, in the order above.
TABLES = ("workspace_info", "id_counters", "subjects", "recordings", "epochs", "events", "captions",
          "epoch_vectors", "night_vectors", "recording_notes", "ingest_errors", "features", "night_metrics")

#: Tables keyed by recording: what deleting a recording (re-ingest of a changed file) removes.
PER_RECORDING = ("events", "night_metrics", "night_vectors", "recording_notes")
PER_EPOCH = ("captions", "features", "epoch_vectors")
