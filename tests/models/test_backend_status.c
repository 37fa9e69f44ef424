/* test_backend_status.c — a failed oneDNN call is reported as a backend failure naming the call and its status, never
 * as running out of memory: gemm.h's GEMM_EBACKEND, which the engines turn into LM_EBACKEND (chunks.h). The products
 * are the library's internal ones (this program links gemm.o and the kernels beside libbbtmodels.a, whose own copies
 * are local). */
#include <criterion/criterion.h>
#include <string.h>

#include "models/chunks.h"
#include "models/gemm.h"

/* A 4 × 4 fp32 weight in a fresh context. */
static void setup(gemm_ctx **g, gemm_weight *w)
{
    char err[512] = "";
    float rows[16] = {0};
    cr_assert_eq(gemm_ctx_create(g, ACT_F32, err, sizeof err), GEMM_OK, "%s", err);
    cr_assert_eq(gemm_weight_pack(*g, w, rows, 4, 4, 4, 0, err, sizeof err), GEMM_OK, "%s", err);
}

Test(backend_status, rejected_descriptor_is_ebackend_naming_the_call)
{
    gemm_ctx *g;
    gemm_weight w = {0};
    setup(&g, &w);
    float a[16] = {0}, c[16];
    char err[512] = "";
    /* a negative row stride: oneDNN refuses the product's descriptor */
    int rc = gemm_run(g, &w, 4, a, -5, c, 4, GEMM_STORE, NULL, err, sizeof err);
    cr_expect_eq(rc, GEMM_EBACKEND, "rc %d: %s", rc, err);
    cr_expect(strstr(err, "oneDNN: dnnl_primitive_desc_create failed (invalid_arguments)") != NULL, "%s", err);
    cr_expect_eq(chunk_lm_status(rc), LM_EBACKEND);
    gemm_weight_free(&w);
    gemm_ctx_free(g);
}

Test(backend_status, statuses_map_to_lm_status)
{
    cr_expect_eq(chunk_lm_status(GEMM_ENOMEM), LM_ENOMEM);
    cr_expect_eq(chunk_lm_status(GEMM_EBACKEND), LM_EBACKEND);
    cr_expect_eq(chunk_lm_status(GEMM_EUNSUPPORTED), LM_EUNSUPPORTED);
    chunk_ws w = {0};
    cr_expect_eq(chunk_ws_status(&w), LM_ENOMEM);
    cr_expect_eq(chunk_ws_fail(&w, GEMM_EBACKEND), -1);
    cr_expect_eq(chunk_ws_status(&w), LM_EBACKEND);
}
