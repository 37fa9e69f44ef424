# models/ build rules: the forward-only LM library (engines, tokenizers, remote clients).
# Define MODELS_LIB (the static library bbt links) and append it to ALL_TARGETS.
include models/tokenizer.mk

# The tokenizer fragment defines TOK_OBJ; stay buildable if it does not (yet).
TOK_OBJ ?=

MODELS_SRC := models/lm.c models/llama.c models/score_plan.c models/gpt2.c models/bert.c models/chunks.c models/attention.c models/llama_hf.c \
              models/llama2c.c models/hf.c models/safetensors.c \
              models/gemm.c models/kernels.c
# kernels_isa.c (the hot loops) is built once per instruction set and kernels.c picks one at run time: GCC's vector
# types then become AVX-512, AVX2 or SSE2 code without any intrinsics in the source.
ISA_OBJ := $(OBJ)/models/kernels_isa_avx512.o $(OBJ)/models/kernels_isa_avx2.o $(OBJ)/models/kernels_isa_base.o
ISA_FLAGS_avx512 := -mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma -mprefer-vector-width=512
ISA_FLAGS_avx2 := -mavx2 -mfma -Wno-psabi
ISA_FLAGS_base := -DKERNEL_SCRATCH_OWNER -Wno-psabi
MODELS_OBJ := $(MODELS_SRC:%.c=$(OBJ)/%.o) $(ISA_OBJ) $(COMMON_OBJ)

$(ISA_OBJ): $(OBJ)/models/kernels_isa_%.o: models/kernels_isa.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CSTD) $(CFLAGS) -O3 -ffp-contract=fast -fopenmp $(ISA_FLAGS_$*) -DKERNEL_ISA=$* -MMD -MP -c $< -o $@
MODELS_LIB := $(BUILD)/libbbtmodels.a
ALL_TARGETS += $(MODELS_LIB)

# OpenMP: the engine's own parallel loops share oneDNN's thread pool (oneDNN is built on OpenMP here).
$(MODELS_OBJ): CFLAGS += -fopenmp
# The element-wise kernels and attention rely on vectorisation (the sanitizer build too, or its tests crawl).
$(OBJ)/models/kernels.o: CFLAGS += -O3 -ffp-contract=fast

$(MODELS_LIB): $(MODELS_OBJ) $(TOK_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# libFuzzer target for the safetensors header parser.
FUZZ_TARGETS += safetensors
FUZZ_SRC_safetensors = tests/fuzz/fuzz_safetensors.c models/safetensors.c
FUZZ_LIBS_safetensors = $(shell pkg-config --libs libcjson)
