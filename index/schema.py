"""The DuckDB schema of a cohort workspace (``cohort.duckdb``).

==============  ===================================================================================
table           one row per
==============  ===================================================================================
subjects        subject (``subject_id`` text; age, sex, bmi, phenotype, site, other attributes JSON)
recordings      ingested night (``recording_id`` = id in ``nights.faiss``): file, sha256, clock, duration,
                channel map, missing channels, annotation source, status
epochs          30-s epoch (``epoch_id`` = id in ``epochs.faiss``): recording, index, onset, clock time,
                stage, channel mask (10 booleans in SleepLM order), event types overlapping the epoch
events          scored event: type, onset/duration (s from recording start), source label, SpO2 nadir
features        epoch (``epoch_id``) × the caption pipeline's feature columns (units in the names)
captions        epoch × track: the reference (canonical) caption
night_metrics   night: AASM night metrics as columns, plus the rendered summary
epoch_vectors   epoch: its embedding (FLOAT[]); the FAISS index is rebuilt from this table
night_vectors   night: its vector (FLOAT[])
ingest_errors   file that failed: path, stage, message, time
==============  ===================================================================================

``features`` and ``night_metrics`` are created from the first batch written (their columns follow
the caption pipeline); everything else is fixed here.
"""

from __future__ import annotations

DDL = """
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
    ingested_at TIMESTAMP
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
    spo2_nadir DOUBLE
);
CREATE TABLE IF NOT EXISTS captions (
    epoch_id BIGINT NOT NULL,
    track VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    PRIMARY KEY (epoch_id, track)
);
CREATE TABLE IF NOT EXISTS epoch_vectors (
    epoch_id BIGINT PRIMARY KEY,
    vec FLOAT[] NOT NULL
);
CREATE TABLE IF NOT EXISTS night_vectors (
    recording_id INTEGER PRIMARY KEY,
    vec FLOAT[] NOT NULL
);
CREATE TABLE IF NOT EXISTS ingest_errors (
    path VARCHAR NOT NULL,
    stage VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    occurred_at TIMESTAMP NOT NULL
);
"""

#: Tables keyed by recording: what deleting a recording (re-ingest of a changed file) removes.
PER_RECORDING = ("events", "night_metrics", "night_vectors")
PER_EPOCH = ("captions", "features", "epoch_vectors")
