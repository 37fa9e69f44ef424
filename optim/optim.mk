# optim/ build rules (included by the top-level Makefile): the CMA-ES + PCG library, static and shared, optim's tests,
# and `make install PREFIX=DIR` (the cmaes-bench program's rules are in experiments/experiments.mk).

OPTIM_SRC    := $(wildcard optim/*.c)
OPTIM_OBJ    := $(OPTIM_SRC:%.c=$(OBJ)/%.o) $(COMMON_OBJ)
OPTIM_LIB    := $(BUILD)/libbbtoptim.a
OPTIM_SO     := $(BUILD)/libbbtoptim.so
OPTIM_EXPORT := optim/libbbtoptim.map
# what the library itself needs (CBLAS + LAPACKE from OpenBLAS; no GSL): the shared library's dependencies and the
# Libs.private of the installed bbtoptim.pc
OPTIM_DEPLIBS := $(shell pkg-config --libs lapacke openblas) -lm

ALL_TARGETS += $(OPTIM_LIB) $(OPTIM_SO)

# The library's per-coordinate loops (sampling y = D z, x = m + σ y, the separable variance update, the stop checks)
# vectorise at -O3 and not at -O2; they are element-wise, so the results are bit-identical (x86-64 has no fused
# multiply-add without -mfma, and floating-point sums are never reordered without -ffast-math). Issue 15 measures the
# gain (experiments/RESULTS.md, "per-generation time"). The sanitizer build keeps its own -O1.
ifneq ($(SAN),1)
$(OPTIM_SRC:%.c=$(OBJ)/%.o): CFLAGS += -O3
endif

$(OPTIM_LIB): $(OPTIM_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

# Only the documented API is exported (the version script); the library's internal functions stay local.
$(OPTIM_SO): $(OPTIM_OBJ) $(OPTIM_EXPORT)
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libbbtoptim.so -Wl,--version-script=$(OPTIM_EXPORT) \
	    $(OPTIM_OBJ) -o $@ $(OPTIM_DEPLIBS)

# ---- tests: one Criterion program per tests/optim/test_*.c, and the install/examples script ----
OPTIM_TEST_SRC := $(wildcard tests/optim/test_*.c)
OPTIM_TESTS    := $(OPTIM_TEST_SRC:tests/optim/%.c=$(BUILD)/tests/optim/%)
TEST_PROGRAMS  += $(OPTIM_TESTS)
TEST_SCRIPTS   += tests/optim/examples.sh tests/optim/bench.sh tests/optim/python.sh tests/optim/trace_golden.sh
# python_trace (the C side of the binding's bit-for-bit checks) built with the build's own flags, for trace_golden.sh
TEST_TOOLS     += $(BUILD)/tests/optim/python_trace

$(BUILD)/tests/optim/%: $(OBJ)/tests/optim/%.o $(OPTIM_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS_OPTIM) $(LIBS_TEST)

# ---- install ----
# DIR/include/bbt/{cmaes,pcg}.h, DIR/lib/libbbtoptim.{a,so}, DIR/lib/pkgconfig/bbtoptim.pc, and the Python module
# (optim/python/bbtoptim, ctypes over the shared library) in PYTHON's site-packages under DIR:
# DIR/lib/pythonX.Y/site-packages/bbtoptim (skipped with a note when PYTHON cannot run).
OPTIM_VERSION := 1.0.0
PYTHON ?= /usr/bin/python3
OPTIM_PY_SITE = $(shell $(PYTHON) -c 'import sys, sysconfig; \
    print(sysconfig.get_path("purelib", "posix_prefix", vars={"base": sys.argv[1]}))' $(abspath $(PREFIX)) 2>/dev/null)

install: $(OPTIM_LIB) $(OPTIM_SO)
	install -d $(DESTDIR)$(PREFIX)/include/bbt $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 optim/cmaes.h optim/pcg.h $(DESTDIR)$(PREFIX)/include/bbt/
	install -m 644 $(OPTIM_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(OPTIM_SO) $(DESTDIR)$(PREFIX)/lib/
	sed -e 's|@PREFIX@|$(abspath $(PREFIX))|' -e 's|@VERSION@|$(OPTIM_VERSION)|' \
	    -e 's|@LIBS_PRIVATE@|$(OPTIM_DEPLIBS)|' optim/bbtoptim.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/bbtoptim.pc
	@site='$(OPTIM_PY_SITE)'; if [ -z "$$site" ]; then echo "install: $(PYTHON) did not run: Python module not installed"; \
	else install -d "$(DESTDIR)$$site/bbtoptim" && install -m 644 optim/python/bbtoptim/*.py "$(DESTDIR)$$site/bbtoptim/" \
	    && echo "install: Python module bbtoptim in $$site (PYTHONPATH=$$site)"; fi

# ---- fuzzing: the checkpoint parser (tests/fuzz/fuzz_cmaes_state.c, seeds in tests/fuzz/seeds/cmaes_state/) ----
FUZZ_TARGETS += cmaes_state
FUZZ_SRC_cmaes_state = tests/fuzz/fuzz_cmaes_state.c $(OPTIM_SRC) $(COMMON_SRC)
FUZZ_LIBS_cmaes_state = $(shell pkg-config --cflags --libs lapacke openblas) -lm
