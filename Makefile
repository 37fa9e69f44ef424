# bbt — top-level build.
#
#   make                      library, CLI and benchmark programs into build/
#   make test                 unit/integration tests, built with ASan+UBSan into build/san/, then every libFuzzer
#                             target for 5 s; ends with one line "N passed, N failed" (logs in build/san/test-results/)
#   make install PREFIX=DIR   install the CMA-ES library (headers, static+shared lib, pkg-config file) and its
#                             Python module (PYTHON=/usr/bin/python3: DIR/lib/pythonX.Y/site-packages/bbtoptim)
#   make fuzz                 libFuzzer targets (clang), FUZZ_SECONDS each (5 by default)
#   make fuzz-long            the same, FUZZ_LONG_SECONDS each (30 by default; CI runs it after make test)
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
TEST_TOOLS    :=
FUZZ_TARGETS  :=

.PHONY: all test test-run install clean fuzz fuzz-long
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
# Every test (TEST_PROGRAMS, TEST_SCRIPTS, FUZZ_TARGETS) goes through tests/run_test.sh, which logs it to
# TEST_RESULTS/NAME.log and records PASS/FAIL and its wall time; a failure does not stop the suite, and
# tests/summary.sh ends it with the slowest tests and one line "N passed, N failed" (exit status 1 if any failed).
# A build that fails counts as a failed test (build-san, build-fuzz).
SAN_RESULTS := build/san/test-results
TEST_RESULTS ?= $(BUILD)/test-results
TEST_SUMMARY ?= 1

test:
	@rm -rf $(SAN_RESULTS); mkdir -p $(SAN_RESULTS)
	@$(MAKE) BUILD=build/san SAN=1 OPT=-O1 TEST_SUMMARY=0 test-run || echo "FAIL 0 0 build-san" >$(SAN_RESULTS)/build-san.result
	@$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) TEST_RESULTS=$(SAN_RESULTS) TEST_SUMMARY=0 || \
	    echo "FAIL 0 0 build-fuzz" >$(SAN_RESULTS)/build-fuzz.result
	@bash tests/summary.sh $(SAN_RESULTS)

# A test's name is its path without build/.../tests/ or tests/ and .sh, slashes made dashes (optim-test_api, bbt-e2e).
test-run: $(ALL_TARGETS) $(TEST_PROGRAMS) $(TEST_TOOLS)
	@[ "$(TEST_SUMMARY)" = 0 ] || rm -rf $(TEST_RESULTS)
	@for t in $(TEST_PROGRAMS); do n=$${t#$(BUILD)/tests/}; \
	    ASAN_OPTIONS=detect_leaks=1 bash tests/run_test.sh --leaks $(TEST_RESULTS) $${n//\//-} $$t --jobs 2; done
	@for s in $(TEST_SCRIPTS); do n=$${s#tests/}; n=$${n%.sh}; \
	    BUILD=$(BUILD) bash tests/run_test.sh $(TEST_RESULTS) $${n//\//-} bash $$s; done
	@[ "$(TEST_SUMMARY)" = 0 ] || bash tests/summary.sh $(TEST_RESULTS)

clean:
	rm -rf build
