-- genai_minutes: the per-minute analytics rollup of genai_spans (docs/analytics.md, "Rollup"),
-- one row per minute x project x service x operation x model x agent (x load-test run and
-- replay run, so production figures can leave those out), with quantile sketches (DDSketch,
-- relative accuracy 1 %) of TTFT and duration, the summed TBT gap histogram, token sums
-- and counts. `model` is the request model, else the response model; `agent_name` is the
-- span's own (set on agent runs).
-- Order: the table, then the backfill of rows already in genai_spans (only while the rollup
-- is empty, so re-running it never counts twice), then the view that keeps it filled.

CREATE TABLE IF NOT EXISTS ${db}.genai_minutes
(
    minute DateTime CODEC(Delta, ZSTD(1)),
    project LowCardinality(String),
    service_name LowCardinality(String),
    operation LowCardinality(String),
    model LowCardinality(String),
    agent_name LowCardinality(String),
    loadtest_run_id LowCardinality(String),
    replay_run_id String CODEC(ZSTD(1)),
    calls SimpleAggregateFunction(sum, UInt64),
    errors SimpleAggregateFunction(sum, UInt64),
    timed_out SimpleAggregateFunction(sum, UInt64),
    streamed SimpleAggregateFunction(sum, UInt64),
    input_tokens SimpleAggregateFunction(sum, UInt64),
    cached_tokens SimpleAggregateFunction(sum, UInt64),
    output_tokens SimpleAggregateFunction(sum, UInt64),
    reasoning_tokens SimpleAggregateFunction(sum, UInt64),
    ttft_ms AggregateFunction(quantilesDD(0.01, 0.5), Float64),
    duration_ms AggregateFunction(quantilesDD(0.01, 0.5), Float64),
    tbt_histogram SimpleAggregateFunction(sumMap, Map(UInt16, UInt64))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (project, operation, minute, service_name, model, agent_name, loadtest_run_id,
          replay_run_id)
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

INSERT INTO ${db}.genai_minutes
SELECT
    toStartOfMinute(timestamp) AS minute,
    project,
    service_name,
    operation,
    if(request_model != '', request_model, response_model) AS model,
    agent_name,
    loadtest_run_id,
    replay_run_id,
    count() AS calls,
    countIf(status_code = 'Error') AS errors,
    countIf(timed_out) AS timed_out,
    countIf(streamed) AS streamed,
    sum(input_tokens) AS input_tokens,
    sum(cached_tokens) AS cached_tokens,
    sum(output_tokens) AS output_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    quantilesDDStateIf(0.01, 0.5)(assumeNotNull(ttft_ms), ttft_ms IS NOT NULL) AS ttft_ms,
    quantilesDDState(0.01, 0.5)(duration_ms) AS duration_ms,
    sumMap(tbt_histogram) AS tbt_histogram
FROM ${db}.genai_spans
WHERE (SELECT count() FROM ${db}.genai_minutes) = 0
GROUP BY minute, project, service_name, operation, model, agent_name, loadtest_run_id,
         replay_run_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.genai_minutes_mv
TO ${db}.genai_minutes
AS SELECT
    toStartOfMinute(timestamp) AS minute,
    project,
    service_name,
    operation,
    if(request_model != '', request_model, response_model) AS model,
    agent_name,
    loadtest_run_id,
    replay_run_id,
    count() AS calls,
    countIf(status_code = 'Error') AS errors,
    countIf(timed_out) AS timed_out,
    countIf(streamed) AS streamed,
    sum(input_tokens) AS input_tokens,
    sum(cached_tokens) AS cached_tokens,
    sum(output_tokens) AS output_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    quantilesDDStateIf(0.01, 0.5)(assumeNotNull(ttft_ms), ttft_ms IS NOT NULL) AS ttft_ms,
    quantilesDDState(0.01, 0.5)(duration_ms) AS duration_ms,
    sumMap(tbt_histogram) AS tbt_histogram
FROM ${db}.genai_spans
GROUP BY minute, project, service_name, operation, model, agent_name, loadtest_run_id,
         replay_run_id;
