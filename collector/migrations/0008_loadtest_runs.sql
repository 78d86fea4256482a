-- loadtest_runs: one row per `agentflight loadtest` run, written by the command at its end:
-- the figures a list of runs needs, and the whole JSON report (stages, SLO checks, capacity,
-- settings) as the command printed it. The run's own requests are spans in otel_traces and
-- genai_spans, tagged agentflight.loadtest.run_id = run_id (genai_spans.loadtest_run_id).
-- Columns are documented in docs/loadtest.md ("Every run kept").

CREATE TABLE IF NOT EXISTS ${db}.loadtest_runs
(
    run_id String,
    started_at DateTime64(3),
    duration_s Float64,
    shape LowCardinality(String),
    search LowCardinality(String),
    target String,
    model String,
    verdict LowCardinality(String),
    exit_code UInt8,
    stages UInt32,
    requests UInt64,
    capacity_users Nullable(UInt32),
    capacity_value Nullable(Float64),
    slo String,
    report String CODEC(ZSTD(3)),
    stored_at DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(stored_at)
ORDER BY run_id;
