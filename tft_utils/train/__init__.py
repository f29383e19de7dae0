"""Layer 7, train (notebook 05): chat rendering (`render`), the student model (`student`), the LoRA
training loop (`loop`), the tool-calling base (`tool_base`) and the Direct and TFT arms (`arms`)."""
