# tests/ shared rules: test fixtures, the per-folder test makefiles, and the libFuzzer runner.
# (Modules still declare their own Criterion programs and fuzz targets where the folder has no makefile here.)

# The model writer (random-weight models in every layout the engine reads): a fixture of the models tests, also linked
# into experiments/bench/make_model.
MODEL_WRITER_OBJ := $(OBJ)/tests/fixtures/model_writer.o

# Structure checks over the built tree: no include or call circles between files (tests/dep_cycles.sh), and every
# symbol a library exports carries its prefix (tests/exports.sh; models/libbbtmodels.syms, optim/libbbtoptim.map).
TEST_SCRIPTS += tests/dep_cycles.sh tests/exports.sh

include tests/models/models.mk
include tests/tokenizer/tokenizer.mk
include tests/fuzz/fuzz.mk
include tests/common/common_tests.mk

# ---- the libFuzzer runner ----
# A module (or tests/fuzz/fuzz.mk) adds a fuzz target NAME with
#     FUZZ_TARGETS += NAME
#     FUZZ_SRC_NAME = tests/fuzz/fuzz_NAME.c <the module sources it needs>
#     FUZZ_LIBS_NAME = <libraries>
# and optional seed inputs in tests/fuzz/seeds/NAME/. `make fuzz` builds each with clang's libFuzzer + ASan + UBSan and runs
# it for FUZZ_SECONDS (5 s each by default: `make test` runs all of them, so their time adds up); `make fuzz-long` runs
# each for FUZZ_LONG_SECONDS (30 s by default; CI runs it after `make test`). Longer by hand, e.g.
#     make fuzz FUZZ_SECONDS=300      or      build/fuzz/NAME -max_total_time=300 build/fuzz/corpus-NAME tests/fuzz/seeds/NAME
# Each run goes through tests/run_test.sh like the other tests (test name fuzz-NAME, its log in TEST_RESULTS).

# The targets run with OPENBLAS_NUM_THREADS=1: those linking the optimizer ran 5x slower with OpenBLAS's idle threads.

FUZZ_CC      ?= clang
FUZZ_BUILD    = build/fuzz
FUZZ_SECONDS ?= 5
FUZZ_LONG_SECONDS ?= 30

.SECONDEXPANSION:
$(FUZZ_BUILD)/%: $$(FUZZ_SRC_$$*) $(wildcard tests/fuzz/*.h)
	@mkdir -p $(FUZZ_BUILD)
	$(FUZZ_CC) -std=c11 -g -O1 -D_POSIX_C_SOURCE=200809L -I. $(shell pkg-config --cflags libcjson) \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $(FUZZ_SRC_$*) -o $@ $(FUZZ_LIBS_$*)

# Standalone (TEST_SUMMARY=1) the results go to build/fuzz/results/ and end with the summary line.
fuzz: TEST_RESULTS = $(FUZZ_BUILD)/results
fuzz: $$(addprefix $(FUZZ_BUILD)/,$$(FUZZ_TARGETS))
	@[ "$(TEST_SUMMARY)" = 0 ] || rm -rf $(TEST_RESULTS)
	@for t in $(FUZZ_TARGETS); do \
	    corpus=$(FUZZ_BUILD)/corpus-$$t; mkdir -p $$corpus; seeds=tests/fuzz/seeds/$$t; [ -d $$seeds ] || seeds=; \
	    OPENBLAS_NUM_THREADS=1 bash tests/run_test.sh $(TEST_RESULTS) fuzz-$$t $(FUZZ_BUILD)/$$t \
	        -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/ $$corpus $$seeds; \
	done
	@[ "$(TEST_SUMMARY)" = 0 ] || bash tests/summary.sh $(TEST_RESULTS)

fuzz-long:
	@$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_LONG_SECONDS)
