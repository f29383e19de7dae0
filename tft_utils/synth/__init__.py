"""Layer 6, synth (notebook 04, TFT steps 3-4): the rules teacher (`lexicon`, `rules`, `flow`), the
grounding check (`grounding`), validation (`validate`), the stage (`pipeline`), flow coverage
(`coverage`) and what the notebook shows (`report`)."""
