"""tft_utils: the logic behind the TFT study notebooks (one module per stage)."""

__version__ = "0.1.0"
