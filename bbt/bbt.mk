# bbt/ build rules: the `bbt` program. Every bbt/*.c file is part of it.
# It links the models library and, once optim/ defines it, the CMA-ES library.

BBT_SRC  := $(wildcard bbt/*.c)
BBT_OBJ  := $(BBT_SRC:%.c=$(OBJ)/%.o)
BBT_BIN  := $(BUILD)/bbt

ifneq ($(MODELS_LIB),)
ALL_TARGETS += $(BBT_BIN)
endif

$(BBT_BIN): $(BBT_OBJ) $(OPTIM_LIB) $(MODELS_LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) $(BBT_OBJ) $(OPTIM_LIB) $(MODELS_LIB) -o $@ $(LIBS_MODELS) $(LIBS_OPTIM)
