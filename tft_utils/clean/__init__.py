"""Layer 5, clean (notebook 03, TFT steps 1-2): the trace filter (`filter`), turn alignment (`align`),
the committee relabel (`relabel`, with its dialogue `state_tracker`), the stage (`pipeline`) and what
the notebook shows of it (`report`)."""
