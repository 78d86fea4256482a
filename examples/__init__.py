"""Examples that use agentflight the way a user's code would: only the public tracer API."""
