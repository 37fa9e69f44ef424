# models/ tokenizer rules (included from models/models.mk). Define TOK_SRC (the tokenizer sources, which the models
# library archives) and the tokenizer tests.
