"""The span attribute contract shared by every part of agentflight.

OpenTelemetry GenAI semantic-convention names are used wherever the conventions have one.
Everything else lives in the single ``agentflight.*`` namespace. Every name here is listed,
with its type and meaning, in ``docs/attributes.md``; the ClickHouse view ``genai_spans``
reads exactly these names (plus the other vendors' aliases at the bottom of this module).

Units: durations in ``agentflight.*`` are milliseconds (``*_ms``); the semantic convention
``gen_ai.response.time_to_first_chunk`` is in seconds, as the conventions define it.
"""

from __future__ import annotations

from typing import Final

# --- OpenTelemetry GenAI semantic conventions --------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"  # seconds
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
ERROR_TYPE: Final = "error.type"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
CODE_NAMESPACE: Final = "code.namespace"
CODE_FUNCTION: Final = "code.function"

# Values of gen_ai.operation.name used by agentflight.
OP_CHAT: Final = "chat"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_INVOKE_AGENT: Final = "invoke_agent"
# Routing has no GenAI operation name; its spans carry ``agentflight.route.name`` and
# ``genai_spans.operation`` reads ``route`` for them.
OP_ROUTE: Final = "route"

# --- agentflight.* (no GenAI convention exists) ----------------------------------------
# Resource attribute: the project a span belongs to (the collector overwrites it from the key).
PROJECT: Final = "agentflight.project"

# Routing decisions.
ROUTE_NAME: Final = "agentflight.route.name"
ROUTE_INPUT: Final = "agentflight.route.input"  # JSON
ROUTE_TARGET: Final = "agentflight.route.target"

# Agent runs: entry point for replay, inputs/outputs, deadline.
AGENT_ENTRYPOINT: Final = "agentflight.agent.entrypoint"  # "package.module:qualname"
AGENT_INPUT: Final = "agentflight.agent.input"  # JSON of the bound arguments
AGENT_OUTPUT: Final = "agentflight.agent.output"  # JSON of the return value
AGENT_TIMEOUT_MS: Final = "agentflight.agent.timeout_ms"
AGENT_ELAPSED_MS: Final = "agentflight.agent.elapsed_ms"
AGENT_TIMED_OUT: Final = "agentflight.agent.timed_out"  # bool

# LLM streaming and load.
LLM_STREAMED: Final = "agentflight.llm.streamed"  # bool
LLM_TBT_COUNT: Final = "agentflight.llm.tbt.count"
LLM_TBT_MEAN_MS: Final = "agentflight.llm.tbt.mean_ms"
LLM_TBT_P50_MS: Final = "agentflight.llm.tbt.p50_ms"
LLM_TBT_P95_MS: Final = "agentflight.llm.tbt.p95_ms"
LLM_TBT_MAX_MS: Final = "agentflight.llm.tbt.max_ms"
LLM_CHUNK_COUNT: Final = "agentflight.llm.chunk_count"
LLM_INFLIGHT: Final = "agentflight.llm.inflight"  # LLM calls to the same model in flight here

# Token waste: tokens paid for that never reached the user.
WASTE_CAUSE: Final = "agentflight.waste.cause"
WASTE_ABANDONED: Final = "abandoned"
WASTE_FAILED: Final = "failed"
WASTE_TRUNCATED: Final = "truncated"
WASTE_RETRIED: Final = "retried"
WASTE_PARSE_ERROR: Final = "parse_error"
WASTE_DUPLICATE: Final = "duplicate"
WASTE_CAUSES: Final = frozenset(
    {
        WASTE_ABANDONED,
        WASTE_FAILED,
        WASTE_TRUNCATED,
        WASTE_RETRIED,
        WASTE_PARSE_ERROR,
        WASTE_DUPLICATE,
    }
)

# Analytics: pooled TBT and duplicate requests (docs/analytics.md).
# A sparse log-bucket histogram of the call's TBT gaps, "index:count,index:count,...". Bucket
# 0 holds gaps below TBT_HISTOGRAM_MIN_MS; bucket i >= 1 holds
# [MIN * 2**((i-1)/PER_DOUBLING), MIN * 2**(i/PER_DOUBLING)) ms; the last bucket also holds
# everything above. Read back at the geometric middle of a bucket, a gap is off by at most
# 2**(1/(2*PER_DOUBLING)) - 1 = 1.09 %.
LLM_TBT_HISTOGRAM: Final = "agentflight.llm.tbt.histogram"
TBT_HISTOGRAM_MIN_MS: Final = 0.01
TBT_HISTOGRAM_PER_DOUBLING: Final = 32
TBT_HISTOGRAM_BUCKETS: Final = 833  # the last starts at 0.01 ms * 2**(831/32), about 650 s
# Hash of model, request parameters and messages (recorded with content capture off too).
LLM_REQUEST_FINGERPRINT: Final = "agentflight.llm.request.fingerprint"

# Content capture bookkeeping: JSON list of attribute keys whose value was cut to the cap.
CONTENT_TRUNCATED: Final = "agentflight.content.truncated"

# Replay links.
REPLAY_OF: Final = "agentflight.replay.of"  # trace id of the recorded run
REPLAY_RUN_ID: Final = "agentflight.replay.run_id"

# Exact content for replay (agentflight's replay block): typed JSON, see ``tracer.exact``.
CONTENT_INPUT: Final = "agentflight.content.input"  # agent/skill/route arguments, LLM request
CONTENT_OUTPUT: Final = "agentflight.content.output"  # agent/skill/route return value
GEN_AI_TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"  # JSON: the tools sent to the model
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"  # text, json: from response_format
# Other instrumentations' content (prefixes of flattened names), read by genai_content.
GEN_AI_REQUEST_PREFIX: Final = "gen_ai.request."
OPENLLMETRY_PROMPT_PREFIX: Final = "gen_ai.prompt."
OPENLLMETRY_COMPLETION_PREFIX: Final = "gen_ai.completion."
OPENLLMETRY_FUNCTIONS_PREFIX: Final = "llm.request.functions."
OPENINFERENCE_INPUT_MESSAGES_PREFIX: Final = "llm.input_messages."
OPENINFERENCE_OUTPUT_MESSAGES_PREFIX: Final = "llm.output_messages."
OPENINFERENCE_TOOLS_PREFIX: Final = "llm.tools."
OPENINFERENCE_INVOCATION_PARAMETERS: Final = "llm.invocation_parameters"
# On a replayed skill span: a recorded result stood in for the call (the skill did not run).
REPLAY_STUBBED: Final = "agentflight.replay.stubbed"  # bool

# Load-test runs.
LOADTEST_RUN_ID: Final = "agentflight.loadtest.run_id"
LOADTEST_STAGE: Final = "agentflight.loadtest.stage"

# --- Other vendors' names accepted on ingest (read by the genai_spans view) ---------------
LEGACY_GEN_AI_SYSTEM: Final = "gen_ai.system"
LEGACY_USAGE_PROMPT_TOKENS: Final = "gen_ai.usage.prompt_tokens"
LEGACY_USAGE_COMPLETION_TOKENS: Final = "gen_ai.usage.completion_tokens"
OPENLLMETRY_USAGE_PROMPT_TOKENS: Final = "llm.usage.prompt_tokens"
OPENLLMETRY_USAGE_COMPLETION_TOKENS: Final = "llm.usage.completion_tokens"
OPENLLMETRY_USAGE_CACHE_READ: Final = "gen_ai.usage.cache_read_input_tokens"
OPENLLMETRY_USAGE_REASONING: Final = "llm.usage.reasoning_tokens"
OPENLLMETRY_REQUEST_TYPE: Final = "llm.request.type"
OPENLLMETRY_REQUEST_MODEL: Final = "llm.request.model"
OPENLLMETRY_RESPONSE_MODEL: Final = "llm.response.model"
OPENLLMETRY_IS_STREAMING: Final = "llm.is_streaming"
OPENLLMETRY_USAGE_CACHE_READ_LLM: Final = "llm.usage.cache_read_input_tokens"
OPENLLMETRY_FINISH_REASON: Final = "gen_ai.completion.0.finish_reason"
OPENLLMETRY_SPAN_KIND: Final = "traceloop.span.kind"
OPENLLMETRY_ENTITY_NAME: Final = "traceloop.entity.name"
OPENINFERENCE_AGENT_NAME: Final = "agent.name"
OPENINFERENCE_SPAN_KIND: Final = "openinference.span.kind"
OPENINFERENCE_MODEL_NAME: Final = "llm.model_name"
OPENINFERENCE_PROVIDER: Final = "llm.provider"
OPENINFERENCE_SYSTEM: Final = "llm.system"
OPENINFERENCE_TOKEN_PROMPT: Final = "llm.token_count.prompt"
OPENINFERENCE_TOKEN_COMPLETION: Final = "llm.token_count.completion"
OPENINFERENCE_TOKEN_REASONING: Final = "llm.token_count.completion_details.reasoning"
OPENINFERENCE_TOKEN_CACHE_READ: Final = "llm.token_count.prompt_details.cache_read"
OPENINFERENCE_TOOL_NAME: Final = "tool.name"
