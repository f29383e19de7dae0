"""Layer 10, plan (`tft plan`): calls, tokens, cost and device hours of a run before it runs
(`estimate`), counted per LLM stage (`calls`) and for the student (`student`) on the data it will
read (`inputs`), shown as a table (`show`)."""
