# common/ build rules: the file-plumbing leaf. Each library lists COMMON_OBJ among its objects (see common/README.md).
COMMON_SRC := common/files.c common/crc32.c common/base64.c common/torchsave.c
COMMON_OBJ := $(COMMON_SRC:%.c=$(OBJ)/%.o)
