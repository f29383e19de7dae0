"""Layer 2, domain: the restaurant domain's vocabulary and how its conversations are read, in one
place below every stage (it imports nothing from tft_utils but `core.io.DataError`):

- `tools`: the service and tool names, the target schema (parameters, defaults, result keys, the
  price enum) and the study's "today";
- `calls`: tool calls read from and written into OpenAI messages, and read from a model's output;
- `values`: the surface forms of slot values (cuisines, cities, names, prices, flags, numbers,
  times, dates), when two forms mean the same, and how values are rendered back into words;
- `mentions`: the values a text states (times, dates, party sizes, prices, dishes) and the
  patterns that find them;
- `replies`: a conversation's context (its calls, results and "today"), when two slot values name
  the same entity, and what a reply claims (booking news, facts, names, counts) and whether it
  contradicts the tool results: the rules the rubric judge (evaluate) and the grounding check and
  validation (synth) share.
"""
