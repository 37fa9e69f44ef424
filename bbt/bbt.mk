# bbt/ build rules: the `bbt` program (every bbt/*.c file is part of it) and its tests.
# It links the models library and the CMA-ES library (defined by models/models.mk and optim/optim.mk).

include bbt/serve/serve.mk

BBT_SRC  := $(wildcard bbt/*.c)
BBT_OBJ  := $(BBT_SRC:%.c=$(OBJ)/%.o) $(SERVE_OBJ)
BBT_BIN  := $(BUILD)/bbt

# The parts that need neither a model nor the optimizer (data files, tasks, metrics), tested on their own.
BBT_DATA_OBJ := $(patsubst %,$(OBJ)/bbt/%.o,error util files table task dataset metrics) $(COMMON_OBJ)

ifneq ($(MODELS_LIB),)
ALL_TARGETS += $(BBT_BIN)
endif

$(BBT_BIN): $(BBT_OBJ) $(OPTIM_LIB) $(MODELS_LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $(BBT_OBJ) $(OPTIM_LIB) $(MODELS_LIB) -o $@ $(LIBS_SERVE) $(LIBS_MODELS) $(LIBS_OPTIM)

BBT_TEST_DATA := $(BUILD)/tests/test_bbt_data
TEST_PROGRAMS += $(BBT_TEST_DATA)

$(BBT_TEST_DATA): $(OBJ)/tests/bbt/test_data.o $(BBT_DATA_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS_TEST) $(LIBS_MODELS)

# Everything but the command-line front end, for tests that need the optimizer or a model.
BBT_LIB_OBJ := $(filter-out $(OBJ)/bbt/main.o $(OBJ)/bbt/cmd_%.o $(SERVE_OBJ),$(BBT_OBJ))

ifneq ($(MODELS_LIB),)
BBT_TEST_CORE := $(BUILD)/tests/test_bbt_core
TEST_PROGRAMS += $(BBT_TEST_CORE)
TEST_SCRIPTS  += tests/bbt/e2e.sh tests/bbt/outputs.sh tests/bbt/deep.sh
# a user's data folder and run directory: split lookup, the run lock, finished and extended runs, messages
TEST_SCRIPTS  += tests/bbt/runs.sh

$(BBT_TEST_CORE): $(OBJ)/tests/bbt/test_core.o $(OBJ)/tests/bbt/test_tuning.o $(OBJ)/tests/bbt/test_baseline.o \
                  $(OBJ)/tests/bbt/test_deep.o $(BBT_LIB_OBJ) $(OPTIM_LIB) $(MODELS_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS_TEST) $(LIBS_MODELS) $(LIBS_OPTIM)
endif
include tests/serve/serve_tests.mk
