# tests/tokenizer/ rules (included from tests/tests.mk): test tools of the tokenizer library (TOK_LIB, from the
# tokenizer's makefile). Its Criterion program is declared beside the library.

# The `bbt tokenize` command as a program of its own, for the tokenizer's script tests (tests/tokref/run.sh): it needs
# only the tokenizer library, not the engine that build/bbt links.
TOK_CLI := $(BUILD)/tests/tok_cli
ALL_TARGETS += $(TOK_CLI)

$(TOK_CLI): $(OBJ)/tests/tokenizer/tok_cli_main.o $(OBJ)/bbt/cmd_tokenize.o $(OBJ)/bbt/options.o $(OBJ)/bbt/util.o \
           $(OBJ)/bbt/error.o $(TOK_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS_MODELS)
