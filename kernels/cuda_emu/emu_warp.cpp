/* The CUDA emulator's warp instructions: shuffles, ldmatrix(.trans).x4 and mma.sync m16n8k16
 * (bf16/fp16 in, fp32 accumulate), computed for all 32 lanes by the last lane to arrive at the
 * warp rendezvous (emu_sched.cpp), from the operands each lane posted. Layouts re-derived from
 * the PTX ISA ("Matrix Fragments for mma.m16n8k16 with floating point type", "ldmatrix"), with
 * g = lane / 4, t = lane % 4 (mma.cuh lists the same):
 *   A (16x16): reg 0 = A[g][2t, 2t+1], reg 1 = A[g+8][2t, 2t+1], reg 2 = A[g][2t+8, 2t+9],
 *              reg 3 = A[g+8][2t+8, 2t+9];  B (16x8, [k][n]): reg 0 = B[2t, 2t+1][g],
 *              reg 1 = B[2t+8, 2t+9][g];  C/D (16x8 fp32): c0, c1 = C[g][2t, 2t+1],
 *              c2, c3 = C[g+8][2t, 2t+1];  the lower index in the low 16 bits of a register.
 * Rounding: each product of two 16-bit inputs is exact in fp32; D = C + the 16 products added in
 * k order, each addition rounded to fp32 (nearest even). Hopper's tensor cores add the products
 * with their own (wider, truncating) internal scheme, so last bits may differ from a GPU. */
#include <stdio.h>

#include "emu_internal.h"

namespace wf_emu {

const char *op_name(int op) {
    switch (op) {
    case OP_SYNCWARP: return "__syncwarp";
    case OP_SHFL_XOR: return "__shfl_xor_sync";
    case OP_SHFL_IDX: return "__shfl_sync";
    case OP_LDMATRIX: return "ldmatrix.x4";
    case OP_LDMATRIX_T: return "ldmatrix.x4.trans";
    case OP_MMA_BF16: return "mma.m16n8k16.bf16";
    case OP_MMA_F16: return "mma.m16n8k16.f16";
    default: return "an unknown warp collective";
    }
}

struct mma_args {
    float *c;
    const uint32_t *a, *b;
};

struct ldm_args {
    const void *row;
    uint32_t *r;
};

static float half_to_f32(uint16_t bits, bool fp16) {
    if (fp16) {
        __half h;
        memcpy(&h, &bits, sizeof h);
        return __half2float(h);
    }
    uint32_t u = (uint32_t)bits << 16; /* bf16 is the top half of an fp32 */
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void mma(void *const *args, bool fp16) {
    float A[16][16], B[16][8], C[16][8];
    for (int lane = 0; lane < 32; lane++) {
        const mma_args *m = (const mma_args *)args[lane];
        const int g = lane / 4, t = lane % 4;
        for (int r = 0; r < 4; r++) { /* A: rows g, g+8; columns 2t.., 2t+8.. */
            const int row = g + 8 * (r % 2), col = 2 * t + 8 * (r / 2);
            A[row][col] = half_to_f32((uint16_t)(m->a[r] & 0xffff), fp16);
            A[row][col + 1] = half_to_f32((uint16_t)(m->a[r] >> 16), fp16);
        }
        for (int r = 0; r < 2; r++) { /* B: k rows 2t.., 2t+8..; column g */
            B[2 * t + 8 * r][g] = half_to_f32((uint16_t)(m->b[r] & 0xffff), fp16);
            B[2 * t + 8 * r + 1][g] = half_to_f32((uint16_t)(m->b[r] >> 16), fp16);
        }
        for (int e = 0; e < 4; e++) C[g + 8 * (e / 2)][2 * t + e % 2] = m->c[e];
    }
    for (int lane = 0; lane < 32; lane++) {
        const mma_args *m = (const mma_args *)args[lane];
        const int g = lane / 4, t = lane % 4;
        for (int e = 0; e < 4; e++) {
            const int i = g + 8 * (e / 2), j = 2 * t + e % 2;
            float acc = C[i][j];
            for (int k = 0; k < 16; k++) acc += A[i][k] * B[k][j];
            m->c[e] = acc;
        }
    }
}

static uint16_t ld16(const void *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* ldmatrix .x4: lanes 8i..8i+7 give the row addresses of matrix i; lane l gets in r[i] matrix
 * i's row l/4, elements 2(l%4), 2(l%4)+1 (.trans: column l/4, rows 2(l%4), 2(l%4)+1). */
static void ldmatrix(void *const *args, bool trans) {
    const block_run *b = cur_block;
    for (int lane = 0; lane < 32; lane++) {
        const char *p = (const char *)((const ldm_args *)args[lane])->row;
        if ((uintptr_t)p % 16 || p < b->smem || p + 16 > b->smem + b->li->smem)
            kernel_fault("ldmatrix row address %p of lane %d: not a 16-byte-aligned row of the "
                         "launch's dynamic shared memory", (const void *)p, lane);
    }
    uint32_t out[32][4];
    for (int lane = 0; lane < 32; lane++)
        for (int i = 0; i < 4; i++) {
            const int q = lane / 4, t = lane % 4;
            uint16_t lo, hi;
            if (!trans) {
                const char *row = (const char *)((const ldm_args *)args[8 * i + q])->row;
                lo = ld16(row + 2 * (2 * t)), hi = ld16(row + 2 * (2 * t + 1));
            } else {
                const char *r0 = (const char *)((const ldm_args *)args[8 * i + 2 * t])->row;
                const char *r1 = (const char *)((const ldm_args *)args[8 * i + 2 * t + 1])->row;
                lo = ld16(r0 + 2 * q), hi = ld16(r1 + 2 * q);
            }
            out[lane][i] = (uint32_t)lo | ((uint32_t)hi << 16);
        }
    for (int lane = 0; lane < 32; lane++)
        memcpy(((ldm_args *)args[lane])->r, out[lane], sizeof out[lane]);
}

void warp_execute(int op, void *const *args) {
    switch (op) {
    case OP_SYNCWARP: return;
    case OP_SHFL_XOR:
    case OP_SHFL_IDX: {
        uint64_t in[32];
        for (int l = 0; l < 32; l++) in[l] = ((shfl_args *)args[l])->in;
        for (int l = 0; l < 32; l++) {
            shfl_args *a = (shfl_args *)args[l];
            const int src = (op == OP_SHFL_XOR ? l ^ a->param : a->param) & 31;
            a->out = in[src];
        }
        return;
    }
    case OP_LDMATRIX: ldmatrix(args, false); return;
    case OP_LDMATRIX_T: ldmatrix(args, true); return;
    case OP_MMA_BF16: mma(args, false); return;
    case OP_MMA_F16: mma(args, true); return;
    default: kernel_fault("unknown warp collective %d", op);
    }
}

} /* namespace wf_emu */

using namespace wf_emu;

void wf_emu_mma_16816(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], bool fp16) {
    mma_args m = {c, a, b};
    warp_collective(fp16 ? OP_MMA_F16 : OP_MMA_BF16, &m, 0xffffffffu, "mma.sync.m16n8k16");
}

void wf_emu_ldmatrix_x4(uint32_t (&r)[4], const void *row, bool trans) {
    ldm_args m = {row, r};
    warp_collective(trans ? OP_LDMATRIX_T : OP_LDMATRIX, &m, 0xffffffffu,
                    trans ? "ldmatrix.x4.trans" : "ldmatrix.x4");
}
