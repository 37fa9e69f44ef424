# models/ tokenizer rules (included from models/models.mk). Define TOK_SRC (the tokenizer sources, which the models
# library archives) and the tokenizer tests.

TOK_SRC := models/tokenizer.c models/tok_vocab.c models/tok_merge.c models/tok_llama2c.c models/unicode.c \
           models/unicode_data.c
TOK_OBJ := $(TOK_SRC:%.c=$(OBJ)/%.o)
TOK_LIB := $(BUILD)/libbbttok.a

$(TOK_LIB): $(TOK_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Criterion unit tests of the tokenizers (run from the repository root; assets under ../shared/assets).
TOK_TEST := $(BUILD)/tests/test_tokenizer
TOK_TEST_SRC := $(wildcard tests/tokenizer/test_*.c)
TOK_TEST_OBJ := $(TOK_TEST_SRC:%.c=$(OBJ)/%.o)
TEST_PROGRAMS += $(TOK_TEST)

$(TOK_TEST): $(TOK_TEST_OBJ) $(TOK_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS_MODELS) $(LIBS_TEST)
