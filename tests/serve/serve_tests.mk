# tests/serve/ rules, included at the end of bbt/bbt.mk (they need BBT_LIB_OBJ and SERVE_LIB_OBJ).

ifneq ($(MODELS_LIB),)
SERVE_TEST := $(BUILD)/tests/test_serve
TEST_PROGRAMS += $(SERVE_TEST)
TEST_SCRIPTS  += tests/serve/serve.sh tests/serve/goldens.sh tests/serve/openai.sh
# the client side (bbt tune --endpoint against bbt serve)
TEST_SCRIPTS  += tests/remote/remote.sh tests/remote/embeds.sh tests/remote/deep.sh

$(SERVE_TEST): $(SERVE_TEST_OBJ) $(SERVE_LIB_OBJ) $(BBT_LIB_OBJ) $(OPTIM_LIB) $(MODELS_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS_TEST) $(shell pkg-config --libs libcurl) $(LIBS_SERVE) $(LIBS_MODELS) $(LIBS_OPTIM)
endif
