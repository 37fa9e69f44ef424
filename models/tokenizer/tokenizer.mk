# models/ tokenizer rules (included from models/models.mk). Define TOK_SRC (the tokenizer sources, which the models
# library archives) and the tokenizer tests.

TOK_SRC := $(addprefix models/tokenizer/,tokenizer.c tok_util.c tok_vocab.c tok_merge.c tok_pairmap.c tok_llama2c.c \
             tok_hf_json.c tok_files.c tok_added.c tok_normalize.c tok_pretokenize.c tok_bpe.c tok_wordpiece.c \
             unicode.c unicode_data.c)
TOK_OBJ := $(TOK_SRC:%.c=$(OBJ)/%.o)
TOK_LIB := $(BUILD)/libbbttok.a

# The tokenizer reads files through the common/ leaf, which goes into the archive with it (it installs alone).
$(TOK_LIB): $(TOK_OBJ) $(COMMON_OBJ)
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

# Against reference tokenizers written by others (npm packages, installed by the script with npm ci).
TEST_SCRIPTS += tests/tokref/run.sh

# libFuzzer targets (tests/tests.mk runs them): the tokenizer.json parser and the plain vocabulary/merges/bin parsers.
FUZZ_TARGETS += tok_json tok_files
FUZZ_SRC_tok_json = tests/fuzz/fuzz_tok_json.c $(TOK_SRC) $(COMMON_SRC)
FUZZ_LIBS_tok_json = $(shell pkg-config --libs libcjson)
FUZZ_SRC_tok_files = tests/fuzz/fuzz_tok_files.c $(TOK_SRC) $(COMMON_SRC)
FUZZ_LIBS_tok_files = $(shell pkg-config --libs libcjson)
