-- genai_content: the captured content of each span that has any (exact typed forms, messages,
-- tool definitions, display arguments and results, other instrumentations' flattened content
-- and the request parameters), so that replay and the dashboards fetch one trace's or one
-- span's content by key instead of scanning the SpanAttributes maps of otel_traces.
-- Filled by a materialized view from otel_traces (any writer), backfilled below.
-- ReplacingMergeTree keyed by (trace_id, span_id): a span inserted twice (the backfill racing
-- the view, a second migration run, a re-sent batch) collapses to one row; read with FINAL.
-- Names follow tracer/semconv.py (the "Exact content for replay" block).

CREATE TABLE IF NOT EXISTS ${db}.genai_content
(
    timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    trace_id String CODEC(ZSTD(1)),
    span_id String CODEC(ZSTD(1)),
    project LowCardinality(String),
    input String CODEC(ZSTD(3)),
    output String CODEC(ZSTD(3)),
    input_messages String CODEC(ZSTD(3)),
    output_messages String CODEC(ZSTD(3)),
    system_instructions String CODEC(ZSTD(3)),
    tool_definitions String CODEC(ZSTD(3)),
    display_input String CODEC(ZSTD(3)),
    display_output String CODEC(ZSTD(3)),
    truncated String CODEC(ZSTD(1)),
    attributes Map(LowCardinality(String), String) CODEC(ZSTD(3)),
    INDEX idx_span_id span_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(timestamp)
ORDER BY (trace_id, span_id)
SETTINGS index_granularity = 1024, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.genai_content_mv
TO ${db}.genai_content
AS SELECT
    Timestamp AS timestamp,
    TraceId AS trace_id,
    SpanId AS span_id,
    if(ResourceAttributes['agentflight.project'] = '', 'default',
       ResourceAttributes['agentflight.project']) AS project,
    SpanAttributes['agentflight.content.input'] AS input,
    SpanAttributes['agentflight.content.output'] AS output,
    SpanAttributes['gen_ai.input.messages'] AS input_messages,
    SpanAttributes['gen_ai.output.messages'] AS output_messages,
    SpanAttributes['gen_ai.system_instructions'] AS system_instructions,
    SpanAttributes['gen_ai.tool.definitions'] AS tool_definitions,
    coalesce(
        nullIf(SpanAttributes['gen_ai.tool.call.arguments'], ''),
        nullIf(SpanAttributes['agentflight.agent.input'], ''),
        nullIf(SpanAttributes['agentflight.route.input'], ''),
        '') AS display_input,
    coalesce(
        nullIf(SpanAttributes['gen_ai.tool.call.result'], ''),
        nullIf(SpanAttributes['agentflight.agent.output'], ''),
        '') AS display_output,
    SpanAttributes['agentflight.content.truncated'] AS truncated,
    mapFilter((k, v) -> startsWith(k, 'gen_ai.request.')
                        OR startsWith(k, 'gen_ai.prompt.')
                        OR startsWith(k, 'gen_ai.completion.')
                        OR startsWith(k, 'llm.request.functions.')
                        OR startsWith(k, 'llm.input_messages.')
                        OR startsWith(k, 'llm.output_messages.')
                        OR startsWith(k, 'llm.tools.')
                        OR k = 'llm.invocation_parameters'
                        OR k = 'agentflight.agent.entrypoint',
              SpanAttributes) AS attributes
FROM ${db}.otel_traces
WHERE input != '' OR output != '' OR input_messages != '' OR output_messages != ''
   OR system_instructions != '' OR tool_definitions != '' OR display_input != ''
   OR display_output != ''
   OR arrayExists(k -> startsWith(k, 'gen_ai.prompt.') OR startsWith(k, 'llm.input_messages.'),
                  mapKeys(SpanAttributes));

-- Backfill what otel_traces already holds: the view's SELECT, word for word.
INSERT INTO ${db}.genai_content
SELECT
    Timestamp AS timestamp,
    TraceId AS trace_id,
    SpanId AS span_id,
    if(ResourceAttributes['agentflight.project'] = '', 'default',
       ResourceAttributes['agentflight.project']) AS project,
    SpanAttributes['agentflight.content.input'] AS input,
    SpanAttributes['agentflight.content.output'] AS output,
    SpanAttributes['gen_ai.input.messages'] AS input_messages,
    SpanAttributes['gen_ai.output.messages'] AS output_messages,
    SpanAttributes['gen_ai.system_instructions'] AS system_instructions,
    SpanAttributes['gen_ai.tool.definitions'] AS tool_definitions,
    coalesce(
        nullIf(SpanAttributes['gen_ai.tool.call.arguments'], ''),
        nullIf(SpanAttributes['agentflight.agent.input'], ''),
        nullIf(SpanAttributes['agentflight.route.input'], ''),
        '') AS display_input,
    coalesce(
        nullIf(SpanAttributes['gen_ai.tool.call.result'], ''),
        nullIf(SpanAttributes['agentflight.agent.output'], ''),
        '') AS display_output,
    SpanAttributes['agentflight.content.truncated'] AS truncated,
    mapFilter((k, v) -> startsWith(k, 'gen_ai.request.')
                        OR startsWith(k, 'gen_ai.prompt.')
                        OR startsWith(k, 'gen_ai.completion.')
                        OR startsWith(k, 'llm.request.functions.')
                        OR startsWith(k, 'llm.input_messages.')
                        OR startsWith(k, 'llm.output_messages.')
                        OR startsWith(k, 'llm.tools.')
                        OR k = 'llm.invocation_parameters'
                        OR k = 'agentflight.agent.entrypoint',
              SpanAttributes) AS attributes
FROM ${db}.otel_traces
WHERE input != '' OR output != '' OR input_messages != '' OR output_messages != ''
   OR system_instructions != '' OR tool_definitions != '' OR display_input != ''
   OR display_output != ''
   OR arrayExists(k -> startsWith(k, 'gen_ai.prompt.') OR startsWith(k, 'llm.input_messages.'),
                  mapKeys(SpanAttributes));
