"""Layer 9, report (notebook 07): the study's table, wording and figures (`tables`), and a model
card per trained student (`model_card`)."""
