/* torchsave_write.c — writes the test tensors with common/torchsave.c into a directory, for test_torchsave_torch.sh:
 * special_{f32,bf16,f16}.pt and large_f16.pt (as make_goldens.py names them), and large_{f32,bf16}.pt. */
#include <stdio.h>

#include "common/files.h"
#include "tests/common/torchsave_cases.h"

static int save(const char *dir, const char *name, const float *v, int rows, int cols, common_tensor_dtype dt)
{
    char path[1024], err[512];
    unsigned char *buf;
    size_t len;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (common_torchsave(v, rows, cols, dt, &buf, &len))
        return fprintf(stderr, "%s: cannot write\n", path), 1;
    int rc = common_write_atomic(path, buf, len, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    free(buf);
    return rc != 0;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return fprintf(stderr, "usage: torchsave_write DIR\n"), 2;
    float s[21], *l = case_large(257, 256);
    case_special(s);
    int bad = !l || save(argv[1], "special_f32.pt", s, 3, 7, COMMON_T_F32) ||
              save(argv[1], "special_bf16.pt", s, 3, 7, COMMON_T_BF16) ||
              save(argv[1], "special_f16.pt", s, 3, 7, COMMON_T_F16) ||
              save(argv[1], "large_f16.pt", l, 257, 256, COMMON_T_F16) ||
              save(argv[1], "large_bf16.pt", l, 257, 256, COMMON_T_BF16) ||
              save(argv[1], "large_f32.pt", l, 257, 256, COMMON_T_F32);
    free(l);
    return bad;
}
