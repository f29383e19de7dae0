"""Layer 1, core: what every stage stands on: file I/O (`io`), the repository and run folder paths
(`paths`), parameters and their checks (`params`, `params_check`), provenance and the one freshness
rule (`fresh`). Imports only `tft_utils.resources`."""
