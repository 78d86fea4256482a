-- Replay runs (agentflight replay): one row per run with its summary and gate verdict, and one
-- row per replayed trace with its diff figures and the whole per-trace JSON record. Written by
-- the replay package, read by `agentflight replay show RUN_ID` and the dashboards.
-- Kept regardless of AGENTFLIGHT_RETENTION_DAYS (a run is small and outlives its traces).

CREATE TABLE IF NOT EXISTS ${db}.replay_runs
(
    run_id String,
    created_at DateTime64(3),
    finished_at DateTime64(3),
    agent String,
    traces UInt32,
    passed Bool,
    fail_if Array(String),
    failed_conditions Array(String),
    route_agreement Nullable(Float64),
    mean_similarity Nullable(Float64),
    tokens_delta_pct Nullable(Float64),
    cost_delta_pct Nullable(Float64),
    p95_latency_delta_pct Nullable(Float64),
    divergences UInt32,
    errors UInt32,
    settings String CODEC(ZSTD(3)),
    summary String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
ORDER BY run_id;

CREATE TABLE IF NOT EXISTS ${db}.replay_traces
(
    run_id String,
    trace_id String,
    replay_trace_id String,
    status LowCardinality(String),
    mode LowCardinality(String),
    route_changed Bool,
    similarity Nullable(Float64),
    tokens_delta Int64,
    cost_delta_usd Nullable(Float64),
    latency_delta_ms Float64,
    ttft_delta_ms Nullable(Float64),
    divergences UInt32,
    errors UInt32,
    detail String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
ORDER BY (run_id, trace_id);
