"""Layer 8, evaluate (notebook 06): predictions (`predict`, `predict_endpoint`), the metrics
(`metrics`), the judges (`judge.rubric`, `judge.llm`), scoring (`score`), statistics (`stats`), the
schema of results.json (`results`) and the arms compared (`compare`)."""
