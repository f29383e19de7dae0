"""Layer 11, run (`tft run`): the numbered notebooks executed in order with papermill, each reused
while its fingerprint holds (`study`), one writer per run folder (`lock`); with --cluster, the
same stages as Ray tasks (`cluster`)."""
