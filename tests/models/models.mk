# tests/models/ rules (included from tests/tests.mk): the engine's Criterion program and its command scripts.

# Criterion tests of the engine (run from the repository root; assets under ../shared/assets). They write their small
# random models with the fixture tests/fixtures/model_writer.c.
MODELS_TEST := $(BUILD)/tests/test_models
MODELS_TEST_SRC := $(wildcard tests/models/test_*.c)
MODELS_TEST_OBJ := $(MODELS_TEST_SRC:%.c=$(OBJ)/%.o)
TEST_PROGRAMS += $(MODELS_TEST)
$(MODELS_TEST_OBJ): CFLAGS += -fopenmp

# test_backend_status.c checks the internal products' error statuses, so the program links gemm.o and the kernels it
# needs beside the library (whose copies of them are local).
MODELS_TEST_INTERNAL := $(OBJ)/models/gemm.o $(OBJ)/models/kernels.o $(OBJ)/models/isa.o $(ISA_OBJ)

$(MODELS_TEST): $(MODELS_TEST_OBJ) $(MODEL_WRITER_OBJ) $(MODELS_TEST_INTERNAL) $(MODELS_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS_MODELS) $(LIBS_TEST)

# End-to-end checks of the commands (bbt generate, bbt bench, bbt info), and of BERT, RoBERTa and GPT-2 shaped models
# through them and `bbt tune`. They need build/make_model (experiments/experiments.mk); craftgpt.sh runs the real
# CraftGPT-5M through the commands and build/template_scores.
TEST_SCRIPTS += tests/models/commands.sh tests/models/encoders.sh tests/models/craftgpt.sh
