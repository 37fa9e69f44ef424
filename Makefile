# bbt — top-level build.
#
#   make                      library, CLI and benchmark programs into build/
#   make test                 unit/integration tests, built with ASan+UBSan into build/san/
#   make install PREFIX=DIR   install the CMA-ES library (headers, static+shared lib, pkg-config file)
#   make fuzz                 libFuzzer targets (clang), run briefly
#   make clean
#
# Each module keeps its own rules in <dir>/<dir>.mk; this file holds what they share.
# Data flows one way: optim/ and models/ depend on nothing of ours (but the common/ leaf, compiled into each), bbt/ uses both.

SHELL    := /bin/bash
CC       ?= gcc
PREFIX   ?= /usr/local
BUILD    ?= build
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
CSTD      = -std=c11 -Wall -Wextra -fPIC -D_POSIX_C_SOURCE=200809L
CPPFLAGS += -I.
LDLIBS    =

ifeq ($(SAN),1)
  CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
endif

# Third-party libraries, one place (Debian package names live in .ci/packages).
# openblas before gsl: the first library that defines cblas_* wins, and gsl's pkg-config brings its slow reference
# CBLAS (-lgslcblas); in this order every cblas_* call (GSL's own included) goes to OpenBLAS.
PKGS_OPTIM  = lapacke openblas gsl
PKGS_MODELS = libcjson libcurl
LIBS_OPTIM  = $(shell pkg-config --libs $(PKGS_OPTIM)) -lm
LIBS_MODELS = $(shell pkg-config --libs $(PKGS_MODELS)) -ldnnl -fopenmp -lpthread -lm
LIBS_TEST   = $(shell pkg-config --libs criterion)
CPPFLAGS   += $(shell pkg-config --cflags $(PKGS_OPTIM) $(PKGS_MODELS))

OBJ = $(BUILD)/obj
ALL_TARGETS   :=
TEST_PROGRAMS :=
TEST_SCRIPTS  :=
FUZZ_TARGETS  :=

.PHONY: all test test-run install clean fuzz
all: build-all

include common/common.mk
include optim/optim.mk
include models/models.mk
include bbt/bbt.mk
include tests/tests.mk
include experiments/experiments.mk

build-all: $(ALL_TARGETS)

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CSTD) $(CFLAGS) -MMD -MP -c $< -o $@

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)

# Tests run from a sanitizer build of their own so that `make` stays fast and `make test` catches memory errors.
test:
	$(MAKE) BUILD=build/san SAN=1 OPT=-O1 test-run
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)

test-run: $(ALL_TARGETS) $(TEST_PROGRAMS)
	@set -e; for t in $(TEST_PROGRAMS); do echo "== $$t"; \
	    ASAN_OPTIONS=detect_leaks=1 $$t --jobs 2 2>&1 | tee $(BUILD)/last-test.log; test $${PIPESTATUS[0]} -eq 0; \
	    ! grep -q "ERROR: LeakSanitizer" $(BUILD)/last-test.log || { echo "$$t: memory leaks (above)"; exit 1; }; done
	@set -e; for s in $(TEST_SCRIPTS); do echo "== $$s"; BUILD=$(BUILD) bash $$s; done
	@echo "all tests passed"

clean:
	rm -rf build
