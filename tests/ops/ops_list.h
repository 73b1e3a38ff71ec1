/* Every op descriptor of the case table, and tolerances shared by several ops. */
#ifndef WEFT_TESTS_OPS_LIST_H
#define WEFT_TESTS_OPS_LIST_H

#include "harness.h"

#define TC_ALL_FLOATS ((1u << WF_F32) | (1u << WF_BF16) | (1u << WF_F16))

/* Backend-vs-CPU tolerances of an elementwise op whose inputs are already rounded to the dtype:
 * the only difference is the final rounding of the output (half an ulp) plus fp32 math
 * differences (fast intrinsics) on the backend. */
#define TC_TOL_ELEMENTWISE                                                                         \
    {                                                                                              \
        {1e-5, 1e-6, "fp32 math: intrinsics differ by a few ulp"},                                 \
            {8e-3, 1e-3, "bf16 output: one rounding, 2^-8 relative"},                              \
            {1e-3, 1e-4, "fp16 output: one rounding, 2^-11 relative"},                             \
    }

extern const tc_op tc_op_gelu;
extern const tc_op tc_op_tanh;

/* op_linear.c */
extern const tc_op tc_op_embedding;
extern const tc_op tc_op_matmul;
extern const tc_op tc_op_linear;
extern const tc_op tc_op_lora;

/* op_linear_gelu.c */
extern const tc_op tc_op_linear_gelu;
extern const tc_op tc_op_linear_dgelu;

/* op_norm.c */
extern const tc_op tc_op_layernorm;
extern const tc_op tc_op_rmsnorm;

/* op_add_norm.c */
extern const tc_op tc_op_add_layernorm;
extern const tc_op tc_op_add_rmsnorm;

/* op_rope.c */
extern const tc_op tc_op_rope;

/* op_elementwise.c */
extern const tc_op tc_op_add;
extern const tc_op tc_op_swiglu;
extern const tc_op tc_op_ia3;
extern const tc_op tc_op_dropout;
extern const tc_op tc_op_cast;

/* op_attention.c */
extern const tc_op tc_op_attention;

/* op_loss.c */
extern const tc_op tc_op_cross_entropy;
extern const tc_op tc_op_mse;

/* op_optim.c */
extern const tc_op tc_op_grad_unscale_norm;
extern const tc_op tc_op_adamw;
extern const tc_op tc_op_step_end;


#endif
