/* test_torchsave.c — common/torchsave.c writes what PyTorch 1.13's torch.save writes, byte for byte: the goldens in
 * tests/common/goldens/ were written by real PyTorch (make_goldens.py); the conversions are checked exhaustively.
 * (test_torchsave_torch.sh loads the writer's output with torch.load(weights_only=True) when PyTorch is installed.) */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "common/files.h"
#include "tests/common/torchsave_cases.h"

static void check_golden(const char *name, const float *v, int rows, int cols, common_tensor_dtype dt)
{
    char path[256], err[512];
    snprintf(path, sizeof path, "tests/common/goldens/%s", name);
    size_t glen = 0;
    char *golden = NULL;
    cr_assert_eq(common_read_file(path, &golden, &glen, err, sizeof err), 0, "%s", err);
    unsigned char *out;
    size_t len;
    cr_assert_eq(common_torchsave(v, rows, cols, dt, &out, &len), 0);
    cr_expect_eq(len, glen, "%s: %zu bytes written, PyTorch wrote %zu", name, len, glen);
    size_t at = 0;
    while (at < len && at < glen && out[at] == (unsigned char)golden[at])
        at++;
    cr_expect(at == len && at == glen, "%s: first difference at byte %zu", name, at);
    free(out);
    free(golden);
}

Test(torchsave, special_values_as_pytorch_writes_them)
{
    float v[21];
    case_special(v);
    check_golden("special_f32.pt", v, 3, 7, COMMON_T_F32);
    check_golden("special_bf16.pt", v, 3, 7, COMMON_T_BF16);
    check_golden("special_f16.pt", v, 3, 7, COMMON_T_F16);
}

Test(torchsave, large_shape_uses_wider_pickle_integers)
{
    float *v = case_large(257, 256);
    cr_assert(v);
    check_golden("large_f16.pt", v, 257, 256, COMMON_T_F16);
    free(v);
}

Test(torchsave, every_half_round_trips)
{
    for (unsigned h = 0; h < 65536; h++) {
        float f = common_f16_to_float((uint16_t)h);
        if (isnan(f))
            continue;
        cr_assert_eq(common_float_to_f16(f), h, "f16 %#x -> %g -> %#x", h, f, common_float_to_f16(f));
        uint16_t b = (uint16_t)h;
        float g = common_bf16_to_float(b);
        if (!isnan(g))
            cr_assert_eq(common_float_to_bf16(g), b, "bf16 %#x -> %g", h, g);
    }
    cr_expect_eq(common_float_to_f16(2.98023223876953125e-8f), 0, "half of the smallest subnormal ties to 0");
    cr_expect_eq(common_float_to_f16(65519.0f), 0x7bff);
    cr_expect_eq(common_float_to_f16(65520.0f), 0x7c00);
    cr_expect_eq(common_float_to_bf16(1.01171875f), 0x3f82, "bf16 ties to even (up)");
}

Test(torchsave, refuses_empty_shapes)
{
    float v[1] = {0};
    unsigned char *out = NULL;
    size_t len = 0;
    cr_expect_eq(common_torchsave(v, 0, 1, COMMON_T_F32, &out, &len), -1);
    cr_expect_eq(common_torchsave(v, 1, 0, COMMON_T_F32, &out, &len), -1);
    cr_expect_eq(common_torchsave(v, 1, 1, (common_tensor_dtype)7, &out, &len), -1);
    cr_expect_null(out);
}
