-- genai_spans: one typed row per span, filled by a materialized view from otel_traces, so
-- that rows written by any writer (our collector, an OTel Collector fleet) appear here typed.
-- Names follow tracer/semconv.py; other vendors' names are mapped onto the same columns:
-- the older gen_ai.usage.prompt_tokens/completion_tokens and gen_ai.system, OpenLLMetry's
-- llm.* usage names, OpenInference's llm.token_count.*, llm.model_name and span kinds.
-- TTFT/TBT are milliseconds (NULL when not streamed); token columns are 0 when absent.

CREATE TABLE IF NOT EXISTS ${db}.genai_spans
(
    timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    trace_id String CODEC(ZSTD(1)),
    span_id String CODEC(ZSTD(1)),
    parent_span_id String CODEC(ZSTD(1)),
    service_name LowCardinality(String),
    span_name LowCardinality(String),
    project LowCardinality(String),
    operation LowCardinality(String),
    provider LowCardinality(String),
    request_model LowCardinality(String),
    response_model LowCardinality(String),
    agent_name LowCardinality(String),
    route_name LowCardinality(String),
    route_target LowCardinality(String),
    skill_name LowCardinality(String),
    status_code LowCardinality(String),
    error_type LowCardinality(String),
    duration_ms Float64,
    streamed Bool,
    ttft_ms Nullable(Float64),
    tbt_mean_ms Nullable(Float64),
    tbt_p50_ms Nullable(Float64),
    tbt_p95_ms Nullable(Float64),
    tbt_max_ms Nullable(Float64),
    tbt_count UInt32,
    chunk_count UInt32,
    input_tokens UInt64,
    output_tokens UInt64,
    reasoning_tokens UInt64,
    cached_tokens UInt64,
    finish_reason LowCardinality(String),
    inflight Nullable(UInt32),
    timeout_ms Nullable(UInt64),
    timed_out Bool,
    waste_cause LowCardinality(String),
    replay_of String CODEC(ZSTD(1)),
    replay_run_id String CODEC(ZSTD(1)),
    loadtest_run_id LowCardinality(String),
    loadtest_stage LowCardinality(String),
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (project, operation, timestamp)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.genai_spans_mv
TO ${db}.genai_spans
AS SELECT
    Timestamp AS timestamp,
    TraceId AS trace_id,
    SpanId AS span_id,
    ParentSpanId AS parent_span_id,
    ServiceName AS service_name,
    SpanName AS span_name,
    if(ResourceAttributes['agentflight.project'] = '', 'default',
       ResourceAttributes['agentflight.project']) AS project,
    multiIf(
        SpanAttributes['gen_ai.operation.name'] != '', SpanAttributes['gen_ai.operation.name'],
        SpanAttributes['agentflight.route.name'] != '', 'route',
        SpanAttributes['openinference.span.kind'] = 'LLM', 'chat',
        SpanAttributes['openinference.span.kind'] = 'TOOL', 'execute_tool',
        SpanAttributes['openinference.span.kind'] = 'AGENT', 'invoke_agent',
        SpanAttributes['llm.request.type'] != '', SpanAttributes['llm.request.type'],
        SpanAttributes['traceloop.span.kind'] = 'tool', 'execute_tool',
        SpanAttributes['traceloop.span.kind'] = 'agent', 'invoke_agent',
        '') AS operation,
    coalesce(
        nullIf(SpanAttributes['gen_ai.provider.name'], ''),
        nullIf(SpanAttributes['gen_ai.system'], ''),
        nullIf(SpanAttributes['llm.provider'], ''),
        nullIf(SpanAttributes['llm.system'], ''),
        '') AS provider,
    coalesce(
        nullIf(SpanAttributes['gen_ai.request.model'], ''),
        nullIf(SpanAttributes['llm.request.model'], ''),
        nullIf(SpanAttributes['llm.model_name'], ''),
        '') AS request_model,
    coalesce(
        nullIf(SpanAttributes['gen_ai.response.model'], ''),
        nullIf(SpanAttributes['llm.response.model'], ''),
        nullIf(SpanAttributes['llm.model_name'], ''),
        '') AS response_model,
    coalesce(
        nullIf(SpanAttributes['gen_ai.agent.name'], ''),
        nullIf(SpanAttributes['agent.name'], ''),
        '') AS agent_name,
    SpanAttributes['agentflight.route.name'] AS route_name,
    SpanAttributes['agentflight.route.target'] AS route_target,
    coalesce(
        nullIf(SpanAttributes['gen_ai.tool.name'], ''),
        nullIf(SpanAttributes['tool.name'], ''),
        if(SpanAttributes['traceloop.span.kind'] = 'tool',
           nullIf(SpanAttributes['traceloop.entity.name'], ''), NULL),
        '') AS skill_name,
    StatusCode AS status_code,
    SpanAttributes['error.type'] AS error_type,
    Duration / 1e6 AS duration_ms,
    toFloat64OrNull(SpanAttributes['gen_ai.response.time_to_first_chunk']) * 1000 AS ttft_ms,
    (SpanAttributes['agentflight.llm.streamed'] = 'true'
        OR SpanAttributes['gen_ai.request.stream'] = 'true'
        OR SpanAttributes['llm.is_streaming'] = 'true'
        OR ttft_ms IS NOT NULL) AS streamed,
    toFloat64OrNull(SpanAttributes['agentflight.llm.tbt.mean_ms']) AS tbt_mean_ms,
    toFloat64OrNull(SpanAttributes['agentflight.llm.tbt.p50_ms']) AS tbt_p50_ms,
    toFloat64OrNull(SpanAttributes['agentflight.llm.tbt.p95_ms']) AS tbt_p95_ms,
    toFloat64OrNull(SpanAttributes['agentflight.llm.tbt.max_ms']) AS tbt_max_ms,
    toUInt32OrZero(SpanAttributes['agentflight.llm.tbt.count']) AS tbt_count,
    toUInt32OrZero(SpanAttributes['agentflight.llm.chunk_count']) AS chunk_count,
    toUInt64(greatest(0, toFloat64OrZero(coalesce(
        nullIf(SpanAttributes['gen_ai.usage.input_tokens'], ''),
        nullIf(SpanAttributes['gen_ai.usage.prompt_tokens'], ''),
        nullIf(SpanAttributes['llm.usage.prompt_tokens'], ''),
        nullIf(SpanAttributes['llm.token_count.prompt'], ''),
        '')))) AS input_tokens,
    toUInt64(greatest(0, toFloat64OrZero(coalesce(
        nullIf(SpanAttributes['gen_ai.usage.output_tokens'], ''),
        nullIf(SpanAttributes['gen_ai.usage.completion_tokens'], ''),
        nullIf(SpanAttributes['llm.usage.completion_tokens'], ''),
        nullIf(SpanAttributes['llm.token_count.completion'], ''),
        '')))) AS output_tokens,
    toUInt64(greatest(0, toFloat64OrZero(coalesce(
        nullIf(SpanAttributes['gen_ai.usage.reasoning.output_tokens'], ''),
        nullIf(SpanAttributes['llm.usage.reasoning_tokens'], ''),
        nullIf(SpanAttributes['llm.token_count.completion_details.reasoning'], ''),
        '')))) AS reasoning_tokens,
    toUInt64(greatest(0, toFloat64OrZero(coalesce(
        nullIf(SpanAttributes['gen_ai.usage.cache_read.input_tokens'], ''),
        nullIf(SpanAttributes['gen_ai.usage.cache_read_input_tokens'], ''),
        nullIf(SpanAttributes['llm.usage.cache_read_input_tokens'], ''),
        nullIf(SpanAttributes['llm.token_count.prompt_details.cache_read'], ''),
        '')))) AS cached_tokens,
    coalesce(
        nullIf(if(startsWith(SpanAttributes['gen_ai.response.finish_reasons'], '['),
                  JSONExtractString(SpanAttributes['gen_ai.response.finish_reasons'], 1),
                  SpanAttributes['gen_ai.response.finish_reasons']), ''),
        nullIf(SpanAttributes['gen_ai.completion.0.finish_reason'], ''),
        '') AS finish_reason,
    toUInt32OrNull(SpanAttributes['agentflight.llm.inflight']) AS inflight,
    toUInt64OrNull(SpanAttributes['agentflight.agent.timeout_ms']) AS timeout_ms,
    SpanAttributes['agentflight.agent.timed_out'] = 'true' AS timed_out,
    SpanAttributes['agentflight.waste.cause'] AS waste_cause,
    SpanAttributes['agentflight.replay.of'] AS replay_of,
    SpanAttributes['agentflight.replay.run_id'] AS replay_run_id,
    SpanAttributes['agentflight.loadtest.run_id'] AS loadtest_run_id,
    SpanAttributes['agentflight.loadtest.stage'] AS loadtest_stage
FROM ${db}.otel_traces;
