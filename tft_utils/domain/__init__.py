"""The restaurant domain's vocabulary, in one place at the bottom of the package (it imports
nothing from tft_utils but `io.DataError`):

- `tools`: the service and tool names, the target schema (parameters, defaults, result keys, the
  price enum) and the study's "today";
- `calls`: tool calls read from and written into OpenAI messages, and read from a model's output;
- `values`: the surface forms of slot values (cuisines, cities, names, prices, flags, numbers,
  times, dates), when two forms mean the same, and how values are rendered back into words;
- `mentions`: the values a text states (times, dates, party sizes, prices, dishes) and the
  patterns that find them.
"""
