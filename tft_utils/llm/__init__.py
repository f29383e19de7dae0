"""Layer 3, llm: the LLM roles' backends (offline rules or OpenAI-compatible endpoints), the call cache
and the call ledger (`backends`)."""
