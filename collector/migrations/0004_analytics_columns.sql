-- Analytics columns in genai_spans (docs/analytics.md):
-- tbt_histogram: the call's TBT gaps in fixed log-spaced buckets (agentflight.llm.tbt.histogram,
--   "index:count,..."; 32 buckets per doubling from 0.01 ms, index 0..832), summed across calls
--   with sumMap for percentiles over all gaps of a window. Malformed entries read as nothing
--   and out-of-range indexes as the last bucket: a bad attribute never fails an insert.
-- request_fingerprint: the hash of model, parameters and messages (agentflight.llm.request.
--   fingerprint), for the `duplicate` waste cause.
-- The view is re-created with the body of 0002 (every existing column's expression as it
-- was) plus the two new columns. Rows already stored keep empty values for them.

ALTER TABLE ${db}.genai_spans
    ADD COLUMN IF NOT EXISTS tbt_histogram Map(UInt16, UInt64) CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS request_fingerprint String CODEC(ZSTD(1));

DROP VIEW IF EXISTS ${db}.genai_spans_mv;

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
    SpanAttributes['agentflight.loadtest.stage'] AS loadtest_stage,
    CAST(arrayMap(p -> (toUInt16(least(toUInt32OrZero(p[1]), 832)), toUInt64OrZero(p[2])),
                  extractAllGroups(SpanAttributes['agentflight.llm.tbt.histogram'],
                                   '(\\d+):(\\d+)')),
         'Map(UInt16, UInt64)') AS tbt_histogram,
    SpanAttributes['agentflight.llm.request.fingerprint'] AS request_fingerprint
FROM ${db}.otel_traces;
