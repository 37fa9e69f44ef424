# tests/models/ rules (included from tests/tests.mk): the engine's Criterion program and its command scripts.

# Criterion tests of the engine (run from the repository root; assets under ../shared/assets). They write their small
# random models with the fixture tests/fixtures/model_writer.c.
MODELS_TEST := $(BUILD)/tests/test_models
MODELS_TEST_SRC := $(wildcard tests/models/test_*.c)
MODELS_TEST_OBJ := $(MODELS_TEST_SRC:%.c=$(OBJ)/%.o)
TEST_PROGRAMS += $(MODELS_TEST)
$(MODELS_TEST_OBJ): CFLAGS += -fopenmp

$(MODELS_TEST): $(MODELS_TEST_OBJ) $(MODEL_WRITER_OBJ) $(MODELS_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS_MODELS) $(LIBS_TEST)

# End-to-end checks of the commands (bbt generate, bbt bench, bbt info), and of BERT, RoBERTa and GPT-2 shaped models
# through them and `bbt tune`. They need build/make_model (experiments/experiments.mk).
TEST_SCRIPTS += tests/models/commands.sh tests/models/encoders.sh
