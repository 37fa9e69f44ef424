/* test_serve_formats.c — the request parsers on their own: strict base64, torch.save archives written by PyTorch (goldens), the
 * API key compare, the loopback rule. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <criterion/criterion.h>

#include "bbt/files.h"
#include "bbt/scorer.h"
#include "bbt/serve/auth.h"
#include "common/base64.h"
#include "bbt/serve/serve.h"
#include "bbt/serve/torchzip.h"
#include "bbt/util.h"
#include "tests/serve/http_client.h"
#include "tests/serve/serve_test.h"

/* ---- base64 ---- */

Test(b64, round_trip_and_strictness)
{
    const char *cases[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *e = common_b64_encode(cases[i], strlen(cases[i]));
        cr_assert_str_eq(e, want[i]);
        unsigned char out[16];
        size_t bad;
        cr_assert_eq(common_b64_decode(e, strlen(e), out, &bad), (long)strlen(cases[i]));
        cr_assert(!memcmp(out, cases[i], strlen(cases[i])));
        free(e);
    }
    unsigned char out[16];
    size_t bad = 99;
    cr_assert_eq(common_b64_decode("Zm9v!", 5, out, &bad), -1);
    cr_assert_eq(common_b64_decode("Zm 9vA==", 8, out, &bad), -1);
    cr_assert_eq(bad, 2u);
    cr_assert_eq(common_b64_decode("Zg=", 3, out, &bad), -1, "padding must complete a group of 4");
    cr_assert_eq(common_b64_decode("Zh==", 4, out, &bad), -1, "leftover bits must be zero");
    cr_assert_eq(common_b64_decode("Z===", 4, out, &bad), -1);
    cr_assert_eq(common_b64_decode("=Zg=", 4, out, &bad), -1);
    cr_assert_eq(common_b64_decode("Zg", 2, out, &bad), 1, "unpadded input is accepted");
}

/* ---- torch.save ---- */

/* The numbers tests/serve/make_goldens.py saved. */
static float golden_value(int i, int j)
{
    return (float)(((i * 7 + j * 3) % 17 - 8) / 8.0 + j / 1024.0 + (j % 5 == 0 ? 1e-6 : 0.0));
}


static void check_golden(const char *name, tz_dtype dtype, int first_row, int rows)
{
    size_t len;
    unsigned char *buf = slurp(name, &len);
    tz_tensor t;
    char err[256];
    cr_assert_eq(tz_read(buf, len, &t, err, sizeof err), 0, "%s: %s", name, err);
    cr_assert_eq(t.rows, rows);
    cr_assert_eq(t.cols, 12);
    cr_assert_eq(t.dtype, dtype);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < 12; j++) {
            float v = golden_value(first_row + i, j);
            float want = dtype == TZ_F32 ? v : dtype == TZ_BF16 ? tz_bf16_to_float(tz_float_to_bf16(v))
                                                               : tz_f16_to_float(tz_float_to_f16(v));
            cr_assert_eq(t.data[i * 12 + j], want, "%s [%d][%d]: %.9g, PyTorch saved %.9g", name, i, j,
                         t.data[i * 12 + j], want);
        }
    tz_tensor_free(&t);
    free(buf);
}

Test(torchzip, reads_what_pytorch_wrote)
{
    check_golden(golden("f32_5x12.pt"), TZ_F32, 0, 5);
    check_golden(golden("bf16_5x12.pt"), TZ_BF16, 0, 5);
    check_golden(golden("f16_5x12.pt"), TZ_F16, 0, 5);
    check_golden(golden("f32_1x5x12.pt"), TZ_F32, 0, 5);
    check_golden(golden("f32_view_rows1to3.pt"), TZ_F32, 1, 2);
}

static void check_refused(const char *name, const char *why)
{
    size_t len;
    unsigned char *buf = slurp(name, &len);
    tz_tensor t;
    char err[256];
    cr_assert_eq(tz_read(buf, len, &t, err, sizeof err), -1, "%s was accepted", name);
    cr_assert(strstr(err, why), "%s: message \"%s\" lacks \"%s\"", name, err, why);
    free(buf);
}

Test(torchzip, refuses_what_it_cannot_use)
{
    check_refused(golden("bad_transposed.pt"), "not contiguous");
    check_refused(golden("bad_f64.pt"), "DoubleStorage");
    check_refused(golden("bad_3d.pt"), "3-D");
}

Test(torchzip, writer_round_trip_and_damage)
{
    float v[6] = {1, -2.5f, 3e-5f, 65504, -0.0f, 7};
    for (int d = 0; d < 3; d++) {
        unsigned char *buf;
        size_t len;
        cr_assert_eq(tz_write(v, 2, 3, (tz_dtype)d, &buf, &len), 0);
        tz_tensor t;
        char err[256];
        cr_assert_eq(tz_read(buf, len, &t, err, sizeof err), 0, "%s", err);
        cr_assert_eq(t.rows, 2);
        for (int i = 0; i < 6; i++) {
            float want = d == 0 ? v[i] : d == 1 ? tz_bf16_to_float(tz_float_to_bf16(v[i]))
                                                : tz_f16_to_float(tz_float_to_f16(v[i]));
            cr_assert_eq(t.data[i], want);
        }
        tz_tensor_free(&t);
        for (size_t cut = 0; cut < len; cut += 7) /* every truncation is refused, none read outside */
            cr_assert_eq(tz_read(buf, cut, &t, err, sizeof err), -1);
        /* a flipped bit anywhere fails a CRC or the structure, except in padding and unchecked header fields */
        size_t refused = 0;
        for (size_t at = 0; at < len; at++) {
            buf[at] ^= 0x40;
            if (tz_read(buf, len, &t, err, sizeof err))
                refused++;
            else
                tz_tensor_free(&t);
            buf[at] ^= 0x40;
        }
        cr_assert_gt(refused, len / 3, "only %zu of %zu flipped bytes were noticed", refused, len);
        free(buf);
    }
    cr_assert_eq(tz_float_to_f16(1e-7f), 2, "f16 subnormal");
    cr_assert_eq(tz_float_to_f16(1e6f), 0x7c00, "f16 overflow");
    cr_assert_eq(tz_float_to_bf16(1.00390625f), 0x3f80, "bf16 ties to even");
}

/* ---- the API key and the loopback rule ---- */

Test(auth, bearer_and_constant_time_compare)
{
    cr_assert(auth_bearer_ok("Bearer sekret", "sekret"));
    cr_assert(auth_bearer_ok("bearer sekret", "sekret"));
    cr_assert(!auth_bearer_ok("Bearer sekret2", "sekret"));
    cr_assert(!auth_bearer_ok("Bearer sekre", "sekret"));
    cr_assert(!auth_bearer_ok("Basic sekret", "sekret"));
    cr_assert(!auth_bearer_ok(NULL, "sekret"));
    cr_assert(auth_equal("abc", 3, "abc", 3));
    cr_assert(!auth_equal("abc", 3, "abd", 3));
    cr_assert(!auth_equal("abc", 3, "abc\0", 4));
    cr_assert(serve_host_is_loopback("127.0.0.1"));
    cr_assert(serve_host_is_loopback("127.8.9.10"));
    cr_assert(serve_host_is_loopback("::1"));
    cr_assert(serve_host_is_loopback("localhost"));
    cr_assert(!serve_host_is_loopback("0.0.0.0"));
    cr_assert(!serve_host_is_loopback("10.1.2.3"));
    cr_assert(!serve_host_is_loopback("::"));
}

Test(serve, non_loopback_host_needs_a_key)
{
    serve_config c;
    serve_config_init(&c);
    c.model = MODEL;
    c.host = "0.0.0.0";
    bbt_error err;
    cr_assert_null(serve_start(&c, &err));
    cr_assert(strstr(err.msg, "loopback") && strstr(err.msg, "API key"), "%s", err.msg);
}
