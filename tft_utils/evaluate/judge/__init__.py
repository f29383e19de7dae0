"""The `llm_as_a_judge` metric: the offline rubric judge (`rubric`) and the same rubric asked of an
LLM (`llm`). The rules both read a conversation with live in `tft_utils.domain.replies`."""
