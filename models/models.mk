# models/ build rules: the forward-only LM library (engines, tokenizers, remote clients).
# Define MODELS_LIB (the static library bbt links) and append it to ALL_TARGETS.
include models/tokenizer.mk
