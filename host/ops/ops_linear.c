/* Checked entry points of the dense ops: embedding, matmul, linear, linear + tanh GELU, LoRA
 * linear (ops.h).
 * Every check names the op and the argument. Activations may carry leading dims ((B, T, C) as
 * well as (N, C)); outputs must then have the same leading dims. Ids are not range-checked here
 * (that would read device memory): each backend's embedding kernel checks them. */
#include <math.h>

#include "check.h"

/* x is a float activation, 2-D to 4-D, seen as (rows, cols). */
static wf_status chk_act(const char *op, const char *arg, const wf_tensor *x) {
    WF_TRY(wf_chk_present(op, arg, x));
    WF_TRY(wf_chk_float(op, arg, x));
    if (x->ndim >= 2) return WF_OK;
    char got[96];
    return wf_error(WF_ERR_INVALID, "op %s: '%s' is %s, expected (N, C) or (B, T, C)", op, arg,
                    wf_tensor_describe(x, got, sizeof got));
}

/* t has ref's shape with the last dim replaced by cols, and dtype dt. */
static wf_status chk_rows_like(const char *op, const char *arg, const wf_tensor *t,
                               const wf_tensor *ref, int64_t cols, wf_dtype dt) {
    WF_TRY(wf_chk_present(op, arg, t));
    int64_t d[WF_MAX_DIMS];
    for (int i = 0; i < ref->ndim; i++) d[i] = ref->shape[i];
    d[ref->ndim - 1] = cols;
    WF_TRY(wf_chk_shape(op, arg, t, ref->ndim, d));
    return wf_chk_dtype(op, arg, t, dt);
}

/* A 2-D weight-like tensor of shape (rows, cols) (WF_ANY allowed) and dtype dt. */
static wf_status chk_mat(const char *op, const char *arg, const wf_tensor *t, int64_t rows,
                         int64_t cols, wf_dtype dt) {
    WF_CHK_SHAPE(op, arg, t, 2, rows, cols);
    return wf_chk_dtype(op, arg, t, dt);
}

static wf_status chk_vec(const char *op, const char *arg, const wf_tensor *t, int64_t n,
                         wf_dtype dt) {
    WF_CHK_SHAPE(op, arg, t, 1, n);
    return wf_chk_dtype(op, arg, t, dt);
}

/* A (n) parameter gradient: dtype dt or fp32 (wf_chk_grad_dtype). */
static wf_status chk_grad_vec(const char *op, const char *arg, const wf_tensor *t, int64_t n,
                              wf_dtype dt) {
    WF_CHK_SHAPE(op, arg, t, 1, n);
    return wf_chk_grad_dtype(op, arg, t, dt);
}

/* ---- embedding ---- */

/* ids int32 with 1 to 3 dims; the table (or its gradient) (V, C) float. */
static wf_status chk_embedding(const char *op, const wf_tensor *ids, const char *table_arg,
                               const wf_tensor *table) {
    WF_TRY(wf_chk_present(op, "ids", ids));
    WF_TRY(wf_chk_dtype(op, "ids", ids, WF_I32));
    if (ids->ndim < 1 || ids->ndim > WF_MAX_DIMS - 1) {
        char got[96];
        return wf_error(WF_ERR_INVALID, "op %s: 'ids' is %s, expected (N) or (B, T)", op,
                        wf_tensor_describe(ids, got, sizeof got));
    }
    WF_CHK_SHAPE(op, table_arg, table, 2, WF_ANY, WF_ANY);
    return wf_chk_float(op, table_arg, table);
}

/* t is (ids..., C) with the table's dtype; with `grad`, the table is a gradient that may also be
 * fp32 while t is bf16/fp16 (wf_chk_grad_dtype). */
static wf_status chk_rows_of_ids(const char *op, const char *arg, const wf_tensor *t,
                                 const wf_tensor *ids, const wf_tensor *table, bool grad) {
    WF_TRY(wf_chk_present(op, arg, t));
    int64_t d[WF_MAX_DIMS];
    for (int i = 0; i < ids->ndim; i++) d[i] = ids->shape[i];
    d[ids->ndim] = table->shape[1];
    WF_TRY(wf_chk_shape(op, arg, t, ids->ndim + 1, d));
    if (!grad) return wf_chk_dtype(op, arg, t, table->dtype);
    WF_TRY(wf_chk_float(op, arg, t));
    return wf_chk_grad_dtype(op, "dtable", table, t->dtype);
}

wf_status wf_op_embedding_fwd(wf_backend *be, wf_tensor *out, const wf_tensor *ids,
                              const wf_tensor *table, bool accumulate) {
    WF_TRY(chk_embedding("embedding_fwd", ids, "table", table));
    WF_TRY(chk_rows_of_ids("embedding_fwd", "out", out, ids, table, false));
    return WF_DISPATCH(be, embedding_fwd, out, ids, table, accumulate);
}

wf_status wf_op_embedding_bwd(wf_backend *be, wf_tensor *dtable, const wf_tensor *ids,
                              const wf_tensor *dout) {
    WF_TRY(chk_embedding("embedding_bwd", ids, "dtable", dtable));
    WF_TRY(chk_rows_of_ids("embedding_bwd", "dout", dout, ids, dtable, true));
    return WF_DISPATCH(be, embedding_bwd, dtable, ids, dout);
}

/* ---- matmul ---- */

static wf_status chk_matmul_operand(const char *arg, const wf_tensor *t, wf_dtype dt) {
    WF_TRY(wf_chk_present("matmul", arg, t));
    WF_TRY(wf_chk_float("matmul", arg, t));
    WF_TRY(wf_chk_dtype("matmul", arg, t, dt));
    if (t->ndim == 2 || t->ndim == 3) return WF_OK;
    char got[96];
    return wf_error(WF_ERR_INVALID, "op matmul: '%s' is %s, expected 2-D or 3-D", arg,
                    wf_tensor_describe(t, got, sizeof got));
}

/* The batch of an operand must equal c's, or be 1 (shared by every batch of c). */
static wf_status chk_batch(const char *arg, const wf_tensor *t, int64_t bt) {
    int64_t b = t->ndim == 3 ? t->shape[0] : 1;
    if (b == bt || b == 1) return WF_OK;
    return wf_error(WF_ERR_INVALID, "op matmul: '%s' has batch %lld, 'c' has %lld (expected "
                    "equal, or 1 to share it)", arg, (long long)b, (long long)bt);
}

wf_status wf_op_matmul(wf_backend *be, const wf_matmul *mm) {
    if (!mm) return wf_error(WF_ERR_INVALID, "op matmul: no arguments");
    WF_TRY(wf_chk_present("matmul", "c", mm->c));
    WF_TRY(chk_matmul_operand("c", mm->c, mm->c->dtype)); /* c sets the dtype of the call */
    WF_TRY(chk_matmul_operand("a", mm->a, mm->c->dtype));
    WF_TRY(chk_matmul_operand("b", mm->b, mm->c->dtype));
    const wf_tensor *a = mm->a, *b = mm->b, *c = mm->c;
    int64_t a_r = a->shape[a->ndim - 2], a_c = a->shape[a->ndim - 1];
    int64_t b_r = b->shape[b->ndim - 2], b_c = b->shape[b->ndim - 1];
    int64_t m = mm->trans_a ? a_c : a_r, ka = mm->trans_a ? a_r : a_c;
    int64_t kb = mm->trans_b ? b_c : b_r, n = mm->trans_b ? b_r : b_c;
    if (ka != kb)
        return wf_error(WF_ERR_INVALID, "op matmul: inner dims differ: op(a) is (%lld, %lld), "
                        "op(b) is (%lld, %lld) (trans_a %d, trans_b %d)", (long long)m,
                        (long long)ka, (long long)kb, (long long)n, mm->trans_a, mm->trans_b);
    if (c->ndim == 3) WF_CHK_SHAPE("matmul", "c", c, 3, WF_ANY, m, n);
    else WF_CHK_SHAPE("matmul", "c", c, 2, m, n);
    int64_t bt = c->ndim == 3 ? c->shape[0] : 1;
    WF_TRY(chk_batch("a", a, bt));
    WF_TRY(chk_batch("b", b, bt));
    if (c->data && (c->data == a->data || c->data == b->data))
        return wf_error(WF_ERR_INVALID, "op matmul: 'c' may not alias 'a' or 'b'");
    return WF_DISPATCH(be, matmul, mm);
}

/* ---- linear ---- */

wf_status wf_op_linear_fwd(wf_backend *be, wf_tensor *y, const wf_tensor *x, const wf_tensor *w,
                           const wf_tensor *bias) {
    WF_TRY(chk_act("linear_fwd", "x", x));
    WF_TRY(chk_mat("linear_fwd", "w", w, WF_ANY, wf_tensor_cols(x), x->dtype));
    if (bias) WF_TRY(chk_vec("linear_fwd", "bias", bias, w->shape[0], x->dtype));
    WF_TRY(chk_rows_like("linear_fwd", "y", y, x, w->shape[0], x->dtype));
    return WF_DISPATCH(be, linear_fwd, y, x, w, bias);
}

wf_status wf_op_linear_bwd(wf_backend *be, wf_tensor *dx, wf_tensor *dw, wf_tensor *dbias,
                           const wf_tensor *dy, const wf_tensor *x, const wf_tensor *w) {
    WF_TRY(chk_act("linear_bwd", "x", x));
    WF_TRY(chk_mat("linear_bwd", "w", w, WF_ANY, wf_tensor_cols(x), x->dtype));
    int64_t m = w->shape[0];
    WF_TRY(chk_rows_like("linear_bwd", "dy", dy, x, m, x->dtype));
    if (dx) WF_TRY(wf_chk_like("linear_bwd", "dx", dx, "x", x));
    if (dw) WF_TRY(wf_chk_param_grad("linear_bwd", "dw", dw, "w", w));
    if (dbias) WF_TRY(chk_grad_vec("linear_bwd", "dbias", dbias, m, x->dtype));
    return WF_DISPATCH(be, linear_bwd, dx, dw, dbias, dy, x, w);
}

/* ---- linear + tanh GELU (the fused MLP up-projection and its backward) ---- */

/* a and b name distinct tensors (the fused ops write one while reading the other). */
static wf_status chk_distinct(const char *op, const char *a_arg, const wf_tensor *a,
                              const char *b_arg, const wf_tensor *b) {
    if (!a->data || a->data != b->data) return WF_OK;
    return wf_error(WF_ERR_INVALID, "op %s: '%s' may not alias '%s'", op, a_arg, b_arg);
}

wf_status wf_op_linear_gelu_tanh_fwd(wf_backend *be, wf_tensor *y, wf_tensor *pre,
                                     const wf_tensor *x, const wf_tensor *w,
                                     const wf_tensor *bias) {
    const char *op = "linear_gelu_tanh_fwd";
    WF_TRY(chk_act(op, "x", x));
    WF_TRY(chk_mat(op, "w", w, WF_ANY, wf_tensor_cols(x), x->dtype));
    if (bias) WF_TRY(chk_vec(op, "bias", bias, w->shape[0], x->dtype));
    WF_TRY(chk_rows_like(op, "pre", pre, x, w->shape[0], x->dtype));
    WF_TRY(chk_rows_like(op, "y", y, x, w->shape[0], x->dtype));
    WF_TRY(chk_distinct(op, "y", y, "pre", pre));
    WF_TRY(chk_distinct(op, "y", y, "x", x));
    WF_TRY(chk_distinct(op, "pre", pre, "x", x));
    return WF_DISPATCH(be, linear_gelu_tanh_fwd, y, pre, x, w, bias);
}

wf_status wf_op_linear_dgelu_tanh_bwd(wf_backend *be, wf_tensor *dpre, wf_tensor *dw,
                                      wf_tensor *dbias, const wf_tensor *dy, const wf_tensor *x,
                                      const wf_tensor *w, const wf_tensor *pre) {
    const char *op = "linear_dgelu_tanh_bwd";
    WF_TRY(chk_act(op, "x", x));
    WF_TRY(chk_mat(op, "w", w, WF_ANY, wf_tensor_cols(x), x->dtype));
    int64_t m = w->shape[0];
    WF_TRY(chk_rows_like(op, "dy", dy, x, m, x->dtype));
    WF_TRY(wf_chk_like(op, "pre", pre, "x", x));
    WF_TRY(wf_chk_like(op, "dpre", dpre, "x", x));
    if (dw) WF_TRY(wf_chk_param_grad(op, "dw", dw, "w", w));
    if (dbias) WF_TRY(chk_grad_vec(op, "dbias", dbias, m, x->dtype));
    WF_TRY(chk_distinct(op, "dpre", dpre, "pre", pre));
    WF_TRY(chk_distinct(op, "dpre", dpre, "x", x));
    WF_TRY(chk_distinct(op, "dpre", dpre, "dy", dy));
    return WF_DISPATCH(be, linear_dgelu_tanh_bwd, dpre, dw, dbias, dy, x, w, pre);
}

/* ---- LoRA ---- */

/* The tensors forward and backward share: x, w, bias?, a, b, h; the scale and the dropout. */
static wf_status chk_lora(const char *op, const wf_lora *l) {
    WF_TRY(chk_act(op, "x", l->x));
    wf_dtype dt = l->x->dtype;
    int64_t k = wf_tensor_cols(l->x);
    WF_TRY(chk_mat(op, "w", l->w, WF_ANY, k, dt));
    int64_t m = l->w->shape[0];
    if (l->bias) WF_TRY(chk_vec(op, "bias", l->bias, m, dt));
    WF_TRY(chk_mat(op, "a", l->a, WF_ANY, k, dt));
    int64_t r = l->a->shape[0];
    WF_TRY(chk_mat(op, "b", l->b, m, r, dt));
    WF_TRY(chk_rows_like(op, "h", l->h, l->x, r, dt));
    if (!(l->drop.p >= 0.0f && l->drop.p < 1.0f))
        return wf_error(WF_ERR_INVALID, "op %s: dropout p must be in [0, 1), got %g", op,
                        (double)l->drop.p);
    if (!isfinite(l->scale))
        return wf_error(WF_ERR_INVALID, "op %s: scale must be finite, got %g", op,
                        (double)l->scale);
    return WF_OK;
}

wf_status wf_op_lora_fwd(wf_backend *be, const wf_lora *l) {
    if (!l) return wf_error(WF_ERR_INVALID, "op lora_fwd: no arguments");
    WF_TRY(chk_lora("lora_fwd", l));
    WF_TRY(chk_rows_like("lora_fwd", "y", l->y, l->x, l->w->shape[0], l->x->dtype));
    return WF_DISPATCH(be, lora_fwd, l);
}

wf_status wf_op_lora_bwd(wf_backend *be, const wf_lora *l) {
    if (!l) return wf_error(WF_ERR_INVALID, "op lora_bwd: no arguments");
    WF_TRY(chk_lora("lora_bwd", l));
    int64_t m = l->w->shape[0];
    WF_TRY(chk_rows_like("lora_bwd", "dy", l->dy, l->x, m, l->x->dtype));
    WF_TRY(wf_chk_param_grad("lora_bwd", "da", l->da, "a", l->a));
    WF_TRY(wf_chk_param_grad("lora_bwd", "db", l->db, "b", l->b));
    if (l->dx) WF_TRY(wf_chk_like("lora_bwd", "dx", l->dx, "x", l->x));
    if (l->dw) WF_TRY(wf_chk_param_grad("lora_bwd", "dw", l->dw, "w", l->w));
    if (l->dbias) WF_TRY(chk_grad_vec("lora_bwd", "dbias", l->dbias, m, l->x->dtype));
    return WF_DISPATCH(be, lora_bwd, l);
}
