-- Analytics speed (docs/analytics.md, "Benchmark"):
-- trace_key: cityHash64(trace_id), stored, so the figures that work per trace (an agent's
--   calls, duplicate requests, the calls of sampled runs) group and join on 8 bytes instead
--   of hashing the trace id string of every span again. Rows stored before this migration
--   get it by a background mutation; until then it is computed from trace_id when read, so
--   answers are the same either way.

ALTER TABLE ${db}.genai_spans
    ADD COLUMN IF NOT EXISTS trace_key UInt64 MATERIALIZED cityHash64(trace_id) CODEC(ZSTD(1));

ALTER TABLE ${db}.genai_spans MATERIALIZE COLUMN trace_key;
