# tests/fuzz/ rules (included from tests/tests.mk): the fuzz targets of bbt/'s parsers. (The libraries' own targets,
# safetensors, cmaes_state and the tokenizer's, are declared in their modules' makefiles.)
# Each target lists the sources it needs; clang builds them with libFuzzer + ASan + UBSan (see tests/tests.mk).

FUZZ_BBT_BASE := bbt/util.c bbt/files.c bbt/error.c $(COMMON_SRC)
FUZZ_LIBS_BBT := $(shell pkg-config --libs libcjson) -lm

# task files (--task-file): bbt/task.c
FUZZ_TARGETS += task
FUZZ_SRC_task = tests/fuzz/fuzz_task.c bbt/task.c $(FUZZ_BBT_BASE)
FUZZ_LIBS_task = $(FUZZ_LIBS_BBT)

# data files (TSV, CSV, JSONL, headerless lines) and the examples read from them: bbt/table.c, bbt/dataset.c
FUZZ_TARGETS += data
FUZZ_SRC_data = tests/fuzz/fuzz_data.c bbt/table.c bbt/dataset.c bbt/task.c $(FUZZ_BBT_BASE)
FUZZ_LIBS_data = $(FUZZ_LIBS_BBT)

# checkpoints (checkpoint.bin): bbt/checkpoint.c and the optimizer state inside (optim/)
FUZZ_TARGETS += checkpoint
FUZZ_SRC_checkpoint = tests/fuzz/fuzz_checkpoint.c bbt/checkpoint.c $(FUZZ_BBT_BASE) $(OPTIM_SRC)
FUZZ_LIBS_checkpoint = $(FUZZ_LIBS_BBT) $(shell pkg-config --libs lapacke openblas)

# prompt files (prompt.safetensors, --init-prompt): bbt/prompt_file.c over models/safetensors.c
FUZZ_TARGETS += prompt_file
FUZZ_SRC_prompt_file = tests/fuzz/fuzz_prompt_file.c bbt/prompt_file.c models/safetensors.c $(FUZZ_BBT_BASE)
FUZZ_LIBS_prompt_file = $(FUZZ_LIBS_BBT)

# run directories (config.json, prompt.json): bbt/config.c, bbt/runfiles.c (and what runfiles.c's writer links: the
# projection, the prompt file, the optimizer's stop reasons; the one engine function it calls is replaced in the target)
FUZZ_TARGETS += rundir
FUZZ_SRC_rundir = tests/fuzz/fuzz_rundir.c bbt/config.c bbt/runfiles.c bbt/projection.c bbt/prompt_file.c \
                  bbt/deep.c bbt/metrics.c models/safetensors.c $(OPTIM_SRC) $(FUZZ_BBT_BASE)
FUZZ_LIBS_rundir = $(FUZZ_LIBS_BBT) $(shell pkg-config --libs lapacke openblas gsl)
