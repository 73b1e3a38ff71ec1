/* Error paths of the dense ops (host/ops/ops_linear.c, kernels/cpu/embedding.c) and of the fused
 * add + norm (host/ops/ops_norm.c): wrong shapes
 * and dtypes are WF_ERR_INVALID with a message naming the op and the argument; out-of-range ids
 * are caught by the CPU kernel, which names the position and value and leaves outputs alone. */
#include <stdio.h>
#include <string.h>

#include "weft/ops.h"
#include "expect.h"


/* s is `code` and the last message contains every one of the strings given. */
static void expect_error(int line, wf_status s, wf_status code, const char *a, const char *b) {
    const char *msg = wf_last_error();
    if (s != code || !strstr(msg, a) || (b && !strstr(msg, b))) {
        fprintf(stderr, "FAIL %s:%d: got %s \"%s\", expected %s naming \"%s\"%s%s%s\n", __FILE__,
                line, wf_status_name(s), msg, wf_status_name(code), a, b ? " and \"" : "",
                b ? b : "", b ? "\"" : "");
        failures++;
    }
}
#define EXPECT_ERR(s, code, a, b) expect_error(__LINE__, (s), (code), (a), (b))

static float buf[6][256]; /* plenty for every tensor below */

static void test_embedding(wf_backend *cpu) {
    int32_t ids[4] = {0, 4, 7, 1};
    wf_tensor tid = wf_tensor_make(ids, WF_I32, 1, (int64_t)4);
    wf_tensor table = wf_tensor_make(buf[0], WF_F32, 2, (int64_t)5, (int64_t)3);
    wf_tensor out = wf_tensor_make(buf[1], WF_F32, 2, (int64_t)4, (int64_t)3);
    for (int i = 0; i < 12; i++) buf[1][i] = -7.0f;
    EXPECT_ERR(wf_op_embedding_fwd(cpu, &out, &tid, &table, false), WF_ERR_INVALID,
               "embedding_fwd", "ids[2] = 7");
    EXPECT(buf[1][0] == -7.0f && buf[1][11] == -7.0f); /* nothing written */
    ids[2] = 2;
    EXPECT(wf_op_embedding_fwd(cpu, &out, &tid, &table, false) == WF_OK);
    ids[0] = -1;
    for (int i = 0; i < 15; i++) buf[0][i] = 1.0f;
    EXPECT_ERR(wf_op_embedding_bwd(cpu, &table, &tid, &out), WF_ERR_INVALID, "embedding_bwd",
               "ids[0] = -1");
    EXPECT(buf[0][0] == 1.0f && buf[0][14] == 1.0f);
    wf_tensor fids = wf_tensor_make(buf[2], WF_F32, 1, (int64_t)4);
    EXPECT_ERR(wf_op_embedding_fwd(cpu, &out, &fids, &table, false), WF_ERR_INVALID,
               "embedding_fwd", "'ids'");
    wf_tensor wide = wf_tensor_make(buf[1], WF_F32, 2, (int64_t)4, (int64_t)4);
    EXPECT_ERR(wf_op_embedding_fwd(cpu, &wide, &tid, &table, true), WF_ERR_INVALID,
               "embedding_fwd", "'out'");
}

static void test_linear(wf_backend *cpu) {
    wf_tensor x = wf_tensor_make(buf[0], WF_F32, 2, (int64_t)4, (int64_t)16);
    wf_tensor w = wf_tensor_make(buf[1], WF_F32, 2, (int64_t)8, (int64_t)16);
    wf_tensor bad_w = wf_tensor_make(buf[1], WF_F32, 2, (int64_t)7, (int64_t)8);
    wf_tensor y = wf_tensor_make(buf[2], WF_F32, 2, (int64_t)4, (int64_t)8);
    wf_tensor bias = wf_tensor_make(buf[3], WF_F32, 1, (int64_t)8);
    wf_tensor bad_bias = wf_tensor_make(buf[3], WF_F32, 1, (int64_t)7);
    EXPECT(wf_op_linear_fwd(cpu, &y, &x, &w, &bias) == WF_OK);
    EXPECT_ERR(wf_op_linear_fwd(cpu, &y, &x, &bad_w, NULL), WF_ERR_INVALID, "linear_fwd", "'w'");
    EXPECT_ERR(wf_op_linear_fwd(cpu, &y, &x, &w, &bad_bias), WF_ERR_INVALID, "linear_fwd",
               "'bias'");
    EXPECT_ERR(wf_op_linear_fwd(cpu, &x, &x, &w, NULL), WF_ERR_INVALID, "linear_fwd", "'y'");
    wf_tensor w16 = wf_tensor_make(buf[1], WF_BF16, 2, (int64_t)8, (int64_t)16);
    EXPECT_ERR(wf_op_linear_fwd(cpu, &y, &x, &w16, NULL), WF_ERR_INVALID, "linear_fwd", "'w'");
    wf_tensor dw = wf_tensor_make(buf[4], WF_F32, 2, (int64_t)16, (int64_t)8);
    EXPECT_ERR(wf_op_linear_bwd(cpu, NULL, &dw, NULL, &y, &x, &w), WF_ERR_INVALID, "linear_bwd",
               "'dw'");
    EXPECT_ERR(wf_op_linear_bwd(cpu, NULL, NULL, NULL, NULL, &x, &w), WF_ERR_INVALID,
               "linear_bwd", "'dy'");
    /* valid shapes in bf16: the CPU computes in fp32 only and says so */
    wf_tensor xb = wf_tensor_make(buf[0], WF_BF16, 2, (int64_t)4, (int64_t)16);
    wf_tensor yb = wf_tensor_make(buf[2], WF_BF16, 2, (int64_t)4, (int64_t)8);
    EXPECT_ERR(wf_op_linear_fwd(cpu, &yb, &xb, &w16, NULL), WF_ERR_UNSUPPORTED, "linear_fwd",
               "bf16");
    /* mixed precision: bf16 inputs may feed fp32 parameter gradients (the wrapper lets them
     * through to the backend, which the CPU refuses as a dtype it does not compute in), but a
     * gradient in a third dtype is an argument error naming it */
    wf_tensor dw32 = wf_tensor_make(buf[4], WF_F32, 2, (int64_t)8, (int64_t)16);
    wf_tensor db32 = wf_tensor_make(buf[5], WF_F32, 1, (int64_t)8);
    EXPECT_ERR(wf_op_linear_bwd(cpu, NULL, &dw32, &db32, &yb, &xb, &w16), WF_ERR_UNSUPPORTED,
               "linear_bwd", "bf16");
    wf_tensor dw16 = wf_tensor_make(buf[4], WF_F16, 2, (int64_t)8, (int64_t)16);
    EXPECT_ERR(wf_op_linear_bwd(cpu, NULL, &dw16, NULL, &yb, &xb, &w16), WF_ERR_INVALID,
               "linear_bwd", "'dw' has dtype f16, expected bf16 or f32");
    wf_tensor db16 = wf_tensor_make(buf[5], WF_F16, 1, (int64_t)8);
    EXPECT_ERR(wf_op_linear_bwd(cpu, NULL, NULL, &db16, &yb, &xb, &w16), WF_ERR_INVALID,
               "linear_bwd", "'dbias'");
    /* an fp32 gradient with fp32 inputs and a bf16 table is no such case: the table's dtype
     * (bf16) rules, and an f32 dout does not match it */
    int32_t ids[2] = {0, 1};
    wf_tensor tid = wf_tensor_make(ids, WF_I32, 1, (int64_t)2);
    wf_tensor tab16 = wf_tensor_make(buf[1], WF_BF16, 2, (int64_t)4, (int64_t)8);
    wf_tensor dout = wf_tensor_make(buf[2], WF_F32, 2, (int64_t)2, (int64_t)8);
    EXPECT_ERR(wf_op_embedding_bwd(cpu, &tab16, &tid, &dout), WF_ERR_INVALID, "embedding_bwd",
               "'dtable'");
}

static void test_matmul(wf_backend *cpu) {
    wf_tensor a = wf_tensor_make(buf[0], WF_F32, 3, (int64_t)2, (int64_t)3, (int64_t)4);
    wf_tensor b = wf_tensor_make(buf[1], WF_F32, 2, (int64_t)4, (int64_t)5);
    wf_tensor c = wf_tensor_make(buf[2], WF_F32, 3, (int64_t)2, (int64_t)3, (int64_t)5);
    wf_matmul mm = {.c = &c, .a = &a, .b = &b, .alpha = 1};
    EXPECT(wf_op_matmul(cpu, &mm) == WF_OK);
    mm.trans_b = true; /* op(b) becomes (5, 4): K differs */
    EXPECT_ERR(wf_op_matmul(cpu, &mm), WF_ERR_INVALID, "matmul", "inner dims");
    mm.trans_b = false;
    wf_tensor c3 = wf_tensor_make(buf[2], WF_F32, 3, (int64_t)3, (int64_t)3, (int64_t)5);
    mm.c = &c3; /* a has batch 2, c batch 3 */
    EXPECT_ERR(wf_op_matmul(cpu, &mm), WF_ERR_INVALID, "matmul", "'a'");
    wf_tensor sq = wf_tensor_make(buf[3], WF_F32, 2, (int64_t)3, (int64_t)3);
    wf_tensor sq_out = sq; /* the same memory */
    wf_matmul alias = {.c = &sq_out, .a = &sq, .b = &sq, .alpha = 1};
    EXPECT_ERR(wf_op_matmul(cpu, &alias), WF_ERR_INVALID, "matmul", "alias");
}

static void test_lora(wf_backend *cpu) {
    wf_tensor x = wf_tensor_make(buf[0], WF_F32, 2, (int64_t)4, (int64_t)8);
    wf_tensor w = wf_tensor_make(buf[1], WF_F32, 2, (int64_t)6, (int64_t)8);
    wf_tensor a = wf_tensor_make(buf[2], WF_F32, 2, (int64_t)2, (int64_t)8);
    wf_tensor b = wf_tensor_make(buf[3], WF_F32, 2, (int64_t)6, (int64_t)2);
    wf_tensor bad_b = wf_tensor_make(buf[3], WF_F32, 2, (int64_t)6, (int64_t)3);
    wf_tensor h = wf_tensor_make(buf[4], WF_F32, 2, (int64_t)4, (int64_t)2);
    wf_tensor y = wf_tensor_make(buf[5], WF_F32, 2, (int64_t)4, (int64_t)6);
    wf_lora l = {.y = &y, .h = &h, .x = &x, .w = &w, .a = &a, .b = &b, .scale = 2};
    EXPECT(wf_op_lora_fwd(cpu, &l) == WF_OK);
    l.b = &bad_b; /* rank 3 against a's rank 2 */
    EXPECT_ERR(wf_op_lora_fwd(cpu, &l), WF_ERR_INVALID, "lora_fwd", "'b'");
    l.b = &b;
    l.drop.p = 1.0f;
    EXPECT_ERR(wf_op_lora_fwd(cpu, &l), WF_ERR_INVALID, "lora_fwd", "dropout p");
    l.drop.p = 0.0f;
    l.dy = &y, l.db = &b; /* da missing */
    EXPECT_ERR(wf_op_lora_bwd(cpu, &l), WF_ERR_INVALID, "lora_bwd", "'da'");
}

/* linear + tanh GELU: shapes, the aliasing the fused GEMM cannot take, and the pre / dpre args. */
static void test_linear_gelu(wf_backend *cpu) {
    wf_tensor x = wf_tensor_make(buf[0], WF_F32, 2, (int64_t)4, (int64_t)16);
    wf_tensor w = wf_tensor_make(buf[1], WF_F32, 2, (int64_t)8, (int64_t)16);
    wf_tensor y = wf_tensor_make(buf[2], WF_F32, 2, (int64_t)4, (int64_t)8);
    wf_tensor pre = wf_tensor_make(buf[3], WF_F32, 2, (int64_t)4, (int64_t)8);
    wf_tensor bias = wf_tensor_make(buf[4], WF_F32, 1, (int64_t)8);
    wf_tensor bad_pre = wf_tensor_make(buf[3], WF_F32, 2, (int64_t)4, (int64_t)7);
    EXPECT(wf_op_linear_gelu_tanh_fwd(cpu, &y, &pre, &x, &w, &bias) == WF_OK);
    EXPECT_ERR(wf_op_linear_gelu_tanh_fwd(cpu, &y, &bad_pre, &x, &w, &bias), WF_ERR_INVALID,
               "linear_gelu_tanh_fwd", "'pre'");
    EXPECT_ERR(wf_op_linear_gelu_tanh_fwd(cpu, &y, NULL, &x, &w, NULL), WF_ERR_INVALID,
               "linear_gelu_tanh_fwd", "'pre'");
    EXPECT_ERR(wf_op_linear_gelu_tanh_fwd(cpu, &y, &y, &x, &w, NULL), WF_ERR_INVALID,
               "linear_gelu_tanh_fwd", "'y' may not alias 'pre'");
    /* backward of the down projection: x = act (4, 16) and pre (4, 16), dy (4, 8) */
    wf_tensor act = wf_tensor_make(buf[2], WF_F32, 2, (int64_t)4, (int64_t)16);
    wf_tensor up = wf_tensor_make(buf[3], WF_F32, 2, (int64_t)4, (int64_t)16);
    wf_tensor dpre = wf_tensor_make(buf[4], WF_F32, 2, (int64_t)4, (int64_t)16);
    wf_tensor dy = wf_tensor_make(buf[5], WF_F32, 2, (int64_t)4, (int64_t)8);
    EXPECT(wf_op_linear_dgelu_tanh_bwd(cpu, &dpre, NULL, NULL, &dy, &act, &w, &up) == WF_OK);
    EXPECT_ERR(wf_op_linear_dgelu_tanh_bwd(cpu, NULL, NULL, NULL, &dy, &act, &w, &up),
               WF_ERR_INVALID, "linear_dgelu_tanh_bwd", "'dpre'");
    EXPECT_ERR(wf_op_linear_dgelu_tanh_bwd(cpu, &dpre, NULL, NULL, &dy, &act, &w, &bad_pre),
               WF_ERR_INVALID, "linear_dgelu_tanh_bwd", "'pre'");
    EXPECT_ERR(wf_op_linear_dgelu_tanh_bwd(cpu, &up, NULL, NULL, &dy, &act, &w, &up),
               WF_ERR_INVALID, "linear_dgelu_tanh_bwd", "'dpre' may not alias 'pre'");
    wf_tensor dw = wf_tensor_make(buf[0], WF_F32, 2, (int64_t)16, (int64_t)8);
    EXPECT_ERR(wf_op_linear_dgelu_tanh_bwd(cpu, &dpre, &dw, NULL, &dy, &act, &w, &up),
               WF_ERR_INVALID, "linear_dgelu_tanh_bwd", "'dw'");
}

/* The fused residual add + norm: r, s and y must match x; y may alias none of x, r, s (s may
 * alias x or r); a missing or mis-shaped statistic or gain is named. */
static void test_add_norm(wf_backend *cpu) {
    wf_tensor x = wf_tensor_make(buf[0], WF_F32, 2, (int64_t)4, (int64_t)8);
    wf_tensor r = wf_tensor_make(buf[1], WF_F32, 2, (int64_t)4, (int64_t)8);
    wf_tensor s = wf_tensor_make(buf[2], WF_F32, 2, (int64_t)4, (int64_t)8);
    wf_tensor y = wf_tensor_make(buf[3], WF_F32, 2, (int64_t)4, (int64_t)8);
    wf_tensor g = wf_tensor_make(buf[4], WF_F32, 1, (int64_t)8);
    wf_tensor st = wf_tensor_make(buf[5], WF_F32, 1, (int64_t)4);
    wf_tensor st5 = wf_tensor_make(buf[5], WF_F32, 1, (int64_t)5);
    wf_tensor r_wide = wf_tensor_make(buf[1], WF_F32, 2, (int64_t)4, (int64_t)9);
    wf_tensor s16 = wf_tensor_make(buf[2], WF_BF16, 2, (int64_t)4, (int64_t)8);
    wf_tensor g7 = wf_tensor_make(buf[4], WF_F32, 1, (int64_t)7);
    for (int i = 0; i < 8; i++) buf[4][i] = 1.0f;
    EXPECT(wf_op_add_rmsnorm_fwd(cpu, &s, &y, &st, &x, &r, &g, 1e-6f) == WF_OK);
    EXPECT(wf_op_add_layernorm_fwd(cpu, &s, &y, &st, NULL, &x, &r, &g, NULL, 1e-5f) == WF_OK);
    EXPECT(wf_op_add_rmsnorm_fwd(cpu, &x, &y, NULL, &x, &r, &g, 1e-6f) == WF_OK); /* s = x */
    EXPECT(wf_op_add_layernorm_fwd(cpu, &r, &y, NULL, NULL, &x, &r, &g, NULL, 1e-5f) == WF_OK);
    EXPECT_ERR(wf_op_add_rmsnorm_fwd(cpu, &s, &y, NULL, &x, &r_wide, &g, 1e-6f), WF_ERR_INVALID,
               "add_rmsnorm_fwd", "'r'");
    EXPECT_ERR(wf_op_add_layernorm_fwd(cpu, &s16, &y, NULL, NULL, &x, &r, &g, NULL, 1e-5f),
               WF_ERR_INVALID, "add_layernorm_fwd", "'s'");
    EXPECT_ERR(wf_op_add_rmsnorm_fwd(cpu, &s, &x, NULL, &x, &r, &g, 1e-6f), WF_ERR_INVALID,
               "add_rmsnorm_fwd", "'y' may not alias");
    EXPECT_ERR(wf_op_add_layernorm_fwd(cpu, &s, &s, NULL, NULL, &x, &r, &g, NULL, 1e-5f),
               WF_ERR_INVALID, "add_layernorm_fwd", "'y' may not alias");
    EXPECT_ERR(wf_op_add_layernorm_fwd(cpu, &s, &y, &st5, NULL, &x, &r, &g, NULL, 1e-5f),
               WF_ERR_INVALID, "add_layernorm_fwd", "'mean'");
    EXPECT_ERR(wf_op_add_layernorm_fwd(cpu, &s, &y, NULL, NULL, &x, &r, &g, &g7, 1e-5f),
               WF_ERR_INVALID, "add_layernorm_fwd", "'bias'");
    EXPECT_ERR(wf_op_add_rmsnorm_fwd(cpu, &s, &y, NULL, &x, &r, &g7, 1e-6f), WF_ERR_INVALID,
               "add_rmsnorm_fwd", "'g'");
    EXPECT_ERR(wf_op_add_rmsnorm_fwd(cpu, &s, &y, NULL, &x, NULL, &g, 1e-6f), WF_ERR_INVALID,
               "add_rmsnorm_fwd", "'r' is required");
    EXPECT_ERR(wf_op_add_rmsnorm_fwd(cpu, &s, &y, NULL, &x, &r, &g, 0.0f), WF_ERR_INVALID,
               "add_rmsnorm_fwd", "eps");
}

int main(void) {
    wf_backend *cpu = NULL;
    if (wf_backend_open("cpu", NULL, &cpu) != WF_OK) {
        fprintf(stderr, "cannot open the cpu backend: %s\n", wf_last_error());
        return 1;
    }
    test_embedding(cpu);
    test_linear(cpu);
    test_linear_gelu(cpu);
    test_matmul(cpu);
    test_lora(cpu);
    test_add_norm(cpu);
    wf_backend_close(cpu);
    printf("ops errors: %d failures\n", failures);
    return failures ? 1 : 0;
}
