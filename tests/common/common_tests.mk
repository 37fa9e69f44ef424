# tests/common/ rules: the torch.save writer against PyTorch (goldens written by real PyTorch; torch.load when present).
TORCHSAVE_TEST  := $(BUILD)/tests/test_torchsave
TORCHSAVE_WRITE := $(BUILD)/tests/torchsave_write
TEST_PROGRAMS += $(TORCHSAVE_TEST)
TEST_SCRIPTS  += tests/common/test_torchsave_torch.sh
ALL_TARGETS   += $(TORCHSAVE_WRITE)

$(TORCHSAVE_TEST): $(OBJ)/tests/common/test_torchsave.o $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS_TEST) -lm

$(TORCHSAVE_WRITE): $(OBJ)/tests/common/torchsave_write.o $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ -lm
