# experiments/ build rules (included by the top-level Makefile).

# serve_bench: `bbt serve`'s per-request overhead and what dynamic batching gains (see RESULTS.md).
ifneq ($(MODELS_LIB),)
SERVE_BENCH := $(BUILD)/serve_bench
ALL_TARGETS += $(SERVE_BENCH)
$(SERVE_BENCH): $(OBJ)/experiments/serve_bench.o $(OBJ)/tests/serve/http_client.o $(SERVE_LIB_OBJ) $(BBT_LIB_OBJ) \
                $(OPTIM_LIB) $(MODELS_LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(shell pkg-config --libs libcurl) $(LIBS_SERVE) $(LIBS_MODELS) $(LIBS_OPTIM)
endif
