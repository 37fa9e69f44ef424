# models/ build rules: the forward-only LM library (engines, tokenizers, remote clients).
# Define MODELS_LIB (the static library bbt links) and append it to ALL_TARGETS.
include models/tokenizer/tokenizer.mk

# The tokenizer fragment defines TOK_OBJ; stay buildable if it does not (yet).
TOK_OBJ ?=

MODELS_SRC := $(addprefix models/,lm.c lm_engine.c llama.c llama_forward.c llama_score.c score_plan.c gpt2.c bert.c \
              chunks.c attention.c attention_mm.c llama_hf.c llama2c.c hf.c safetensors.c gemm.c kernels.c isa.c)
# Remote services behind the same interface (libcurl): see models/remote/README.md.
MODELS_SRC += models/lm_remote.c $(wildcard models/remote/*.c)
# The hot loops (kernels_isa.c: row passes and whole-vector helpers; attention_isa.c: the vector attention kernel and
# the softmax row) are built once per instruction set and isa.c picks one set at run time -- the engine's one dispatch
# mechanism (see models/isa.h for why not target_clones): GCC's vector types then become AVX-512, AVX2 or SSE2 code
# without any intrinsics in the source.
ISA_NAMES := avx512 avx2 base
ISA_OBJ := $(foreach f,kernels_isa attention_isa,$(foreach i,$(ISA_NAMES),$(OBJ)/models/$(f)_$(i).o))
ISA_FLAGS_avx512 := -mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma -mprefer-vector-width=512
ISA_FLAGS_avx2 := -mavx2 -mfma -Wno-psabi
ISA_FLAGS_base := -Wno-psabi
MODELS_OBJ := $(MODELS_SRC:%.c=$(OBJ)/%.o) $(ISA_OBJ) $(COMMON_OBJ)

# a static pattern rule: a plain one would also offer to make any kernels_isa_X.o, even for make's own guesses
define ISA_RULE
$(filter $(OBJ)/models/$(1)_%,$(ISA_OBJ)): $(OBJ)/models/$(1)_%.o: models/$(1).c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) $$(CSTD) $$(CFLAGS) -O3 -ffp-contract=fast -fopenmp $$(ISA_FLAGS_$$*) -DKERNEL_ISA=$$* \
	    -MMD -MP -c $$< -o $$@
endef
$(eval $(call ISA_RULE,kernels_isa))
$(eval $(call ISA_RULE,attention_isa))
MODELS_LIB := $(BUILD)/libbbtmodels.a
ALL_TARGETS += $(MODELS_LIB)

# OpenMP: the engine's own parallel loops share oneDNN's thread pool (oneDNN is built on OpenMP here).
$(MODELS_OBJ): CFLAGS += -fopenmp
# The element-wise kernels and attention rely on vectorisation (the sanitizer build too, or its tests crawl).
$(OBJ)/models/kernels.o: CFLAGS += -O3 -ffp-contract=fast

# Only the documented API leaves the library: the engine and tokenizer objects are linked into one relocatable object
# (ld -r) and every global symbol not named in models/libbbtmodels.syms (lm_*, tokenizer_*, st_*) is made local, so
# internal names (attention_run, plan_seq, dot_f32, …) never reach a program that links the library. The common/
# leaf goes in as members of its own (common_* names, shared with libbbtoptim: whichever archive comes first serves).
MODELS_EXPORT := models/libbbtmodels.syms
MODELS_PARTIAL := $(OBJ)/models/libbbtmodels.o
MODELS_INNER_OBJ := $(filter-out $(COMMON_OBJ),$(MODELS_OBJ)) $(TOK_OBJ)

$(MODELS_PARTIAL): $(MODELS_INNER_OBJ) $(MODELS_EXPORT)
	@mkdir -p $(dir $@)
	$(LD) -r -d $(MODELS_INNER_OBJ) -o $@.all
	objcopy --wildcard --keep-global-symbols=$(MODELS_EXPORT) $@.all $@
	rm -f $@.all

$(MODELS_LIB): $(MODELS_PARTIAL) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# libFuzzer target for the safetensors header parser.
FUZZ_TARGETS += safetensors
FUZZ_SRC_safetensors = tests/fuzz/fuzz_safetensors.c models/safetensors.c $(COMMON_SRC)
FUZZ_LIBS_safetensors = $(shell pkg-config --libs libcjson)
