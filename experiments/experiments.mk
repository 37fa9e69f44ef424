# experiments/ build rules (included by the top-level Makefile, after the libraries and tests/tests.mk): the benchmark
# programs. Their scripts (experiments/*.sh, experiments/bench/*.sh) run them; tests/optim/bench.sh checks cmaes-bench.

# cmaes-bench: the CMA-ES reference protocol (experiments/cmaes-bench.sh).
CMAES_BENCH := $(BUILD)/cmaes-bench
ALL_TARGETS += $(CMAES_BENCH)

$(CMAES_BENCH): $(OBJ)/experiments/cmaes_bench.o $(OPTIM_LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS_OPTIM)

# Forward-pass benchmark tools (experiments/bench/): make_model writes random-weight models of a given shape with the
# test fixture tests/fixtures/model_writer.c (MODEL_WRITER_OBJ, from tests/tests.mk); gemm_limit times the matrix
# products alone.
BENCH_TOOLS := $(BUILD)/make_model $(BUILD)/gemm_limit
ALL_TARGETS += $(BENCH_TOOLS)
$(OBJ)/experiments/bench/%.o: CFLAGS += -fopenmp

$(BUILD)/make_model: $(OBJ)/experiments/bench/make_model.o $(MODEL_WRITER_OBJ) $(MODELS_LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS_MODELS)

# gemm_limit measures the engine's internal matrix products (gemm.h), so it links the objects, not the library (whose
# copies of them are local).
$(BUILD)/gemm_limit: $(OBJ)/experiments/bench/gemm_limit.o $(MODELS_OBJ) $(TOK_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS_MODELS)

# serve_bench: `bbt serve`'s per-request overhead and what dynamic batching gains (see RESULTS.md).
ifneq ($(MODELS_LIB),)
SERVE_BENCH := $(BUILD)/serve_bench
ALL_TARGETS += $(SERVE_BENCH)
$(SERVE_BENCH): $(OBJ)/experiments/serve_bench.o $(OBJ)/tests/serve/http_client.o $(SERVE_LIB_OBJ) $(BBT_LIB_OBJ) \
                $(OPTIM_LIB) $(MODELS_LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(shell pkg-config --libs libcurl) $(LIBS_SERVE) $(LIBS_MODELS) $(LIBS_OPTIM)
endif

# The benchmark's scripts (experiments/fewshot, experiments/summarize) end to end at a tiny budget.
TEST_SCRIPTS += tests/experiments/fewshot.sh

# template_scores: a task's template and label words on labelled files with the untuned model and no prompt, encoded
# as `bbt tune` encodes them, and the examples the length rule shortens (experiments/craftgpt_templates.py).
ifneq ($(MODELS_LIB),)
TEMPLATE_SCORES := $(BUILD)/template_scores
ALL_TARGETS += $(TEMPLATE_SCORES)
$(TEMPLATE_SCORES): $(OBJ)/experiments/template_scores.o $(BBT_LIB_OBJ) $(OPTIM_LIB) $(MODELS_LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS_SERVE) $(LIBS_MODELS) $(LIBS_OPTIM)
endif
