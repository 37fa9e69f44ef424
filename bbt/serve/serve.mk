# bbt/serve/ build rules: `bbt serve` (linked into the bbt program by bbt/bbt.mk), its tests and fuzz targets.
# libmicrohttpd serves HTTP; the tests talk to the server with libcurl.

SERVE_SRC := $(wildcard bbt/serve/*.c)
SERVE_OBJ := $(SERVE_SRC:%.c=$(OBJ)/%.o)
LIBS_SERVE = $(shell pkg-config --libs libmicrohttpd) -lpthread
CPPFLAGS  += $(shell pkg-config --cflags libmicrohttpd)

# Everything but the command line, for the tests.
SERVE_LIB_OBJ := $(filter-out $(OBJ)/bbt/serve/cmd_serve.o,$(SERVE_OBJ))

# The tests (tests/serve/): a Criterion program that starts servers in-process and talks to them with libcurl, and
# scripts for the command (SIGTERM) and for the official openai npm client. Rules are read after bbt.mk's BBT_LIB_OBJ.
SERVE_TEST_OBJ = $(patsubst %.c,$(OBJ)/%.o,$(wildcard tests/serve/test_serve_*.c) tests/serve/serve_test.c) \
                 $(OBJ)/tests/serve/http_client.o

# libFuzzer targets for the parsers of request data (tests/tests.mk runs them).
FUZZ_TARGETS += serve_torchzip serve_b64 serve_json
FUZZ_SRC_serve_torchzip = tests/fuzz/fuzz_serve_torchzip.c bbt/serve/torchzip.c bbt/serve/torchzip_zip.c \
                          bbt/serve/torchzip_pickle.c common/crc32.c common/torchsave.c
FUZZ_LIBS_serve_torchzip = -lm
FUZZ_SRC_serve_b64 = tests/fuzz/fuzz_serve_b64.c common/base64.c
FUZZ_LIBS_serve_b64 =
FUZZ_SRC_serve_json = tests/fuzz/fuzz_serve_json.c bbt/serve/jsonin.c common/base64.c bbt/serve/torchzip.c \
                      bbt/serve/torchzip_zip.c bbt/serve/torchzip_pickle.c common/crc32.c common/torchsave.c
FUZZ_LIBS_serve_json = $(shell pkg-config --libs libcjson) -lm
