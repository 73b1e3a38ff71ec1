/* Tiled tensor-core attention (FlashAttention-2: Dao 2023, arXiv:2307.08691, Algorithms 1-2)
 * for bf16/fp16 q, k, v with head dim D in {32, 64, 80, 96, 128}: the kernels only; the
 * launchers and the choice between this and the simple kernel are in attention.cu.
 * Forward: a block owns WF_FLASH_WARPS * 16 queries of one (b, h), each warp 16 of them; key
 * tiles of WF_FLASH_BN stream through shared memory; S = Q K^T and O += P V on mma.sync with
 * fp32 accumulators; online softmax in the base-2 domain; out, and lse (natural log) saved.
 * Backward, deterministic without atomics: a dot kernel (Dvec_i = dO_i . O_i), a dq kernel
 * (block per query tile, keys in order) and a dk/dv kernel (block per key tile of one kv head,
 * the group's query heads then queries in order). Masks as ops.h: causal (j <= i + S - T),
 * key_mask, doc_ids; a query that sees no key gets out = 0, lse = 0 and no gradient.
 * Reference: kernels/cpu/attention.c; fragment layouts: mma.cuh. */
#ifndef WEFT_KERNELS_CUDA_ATTENTION_FLASH_CUH
#define WEFT_KERNELS_CUDA_ATTENTION_FLASH_CUH

#include "mma.cuh"

static_assert(WF_FLASH_BN % 16 == 0 && WF_FLASH_BQ % 16 == 0, "tiles of whole 16-row mma steps");

#define FL_BM (WF_FLASH_WARPS * 16) /* queries per forward / dq block; keys per dk/dv block */
#define FL_LOG2E 1.4426950408889634f
#define FL_LN2 0.6931471805599453f

struct flash_dims {
    int64_t B, T, S, H, Hk, group, shift; /* group = H / Hk; shift = S - T */
    bool causal;
    float scale_log2;        /* scale * log2(e): scores in the base-2 domain */
    const int32_t *key_mask; /* (B, S)? */
    const int32_t *doc_ids;  /* (B, T)? */
};

/* Whether query i of batch row b may see key j (j < S, i < T checked here too). */
__device__ __forceinline__ bool fl_visible(const flash_dims &w, int64_t b, int64_t i, int64_t j) {
    if (i >= w.T || j >= w.S) return false;
    if (w.causal && j > i + w.shift) return false;
    if (w.key_mask && w.key_mask[b * w.S + j] == 0) return false;
    if (w.doc_ids && w.doc_ids[b * w.T + i] != w.doc_ids[b * w.T + j]) return false;
    return true;
}

/* Copies rows [r0, r0 + nrows) of a (rows_total, stride) matrix of D-wide rows (row r starts at
 * src + r * stride) into shared dst (nrows, LD); rows past rows_total become zeros. 16-byte
 * accesses (D % 8 == 0, every row 16-byte aligned: the launcher checks). All threads call. */
template <typename T, int D>
__device__ __forceinline__ void fl_load_rows(T *dst, const T *src, int64_t stride, int64_t r0,
                                             int nrows, int64_t rows_total) {
    constexpr int LD = D + WF_FLASH_PAD, CH = D / 8; /* 16-byte chunks per row */
    for (int x = threadIdx.x; x < nrows * CH; x += blockDim.x) {
        const int r = x / CH, c = (x % CH) * 8;
        uint4 val = make_uint4(0, 0, 0, 0);
        if (r0 + r < rows_total) val = *reinterpret_cast<const uint4 *>(src + (r0 + r) * stride + c);
        *reinterpret_cast<uint4 *>(dst + r * LD + c) = val;
    }
}

/* A fragment (16 x 16) of rows [row0, row0 + 16), columns [k0, k0 + 16) of shared X (., LD):
 * one ldmatrix.x4, lanes 0-7 / 8-15 / 16-23 / 24-31 pointing at the rows of the quadrants
 * (rows 0-7, cols 0-7), (8-15, 0-7), (0-7, 8-15), (8-15, 8-15) = a[0..3] (mma.cuh). Row
 * strides of LD = D + 8 elements put the 8 rows of each quadrant on distinct banks. */
template <typename T, int LD>
__device__ __forceinline__ void fl_frag_a(uint32_t (&a)[4], const T *X, int row0, int k0) {
    const int l = threadIdx.x % 32;
    wf_ldmatrix_x4(a, X + (row0 + l % 8 + 8 * ((l / 8) % 2)) * LD + k0 + 8 * (l / 16));
}

/* B fragments of two adjacent n-tiles with B[k][n] = X[n0 + n][k0 + k] (X's rows are B's
 * columns: K for Q K^T): b[0..1] for columns n0.., b[2..3] for n0 + 8.. (one ldmatrix.x4 over
 * the quadrants (rows n0.., cols k0..), (n0.., k0 + 8..), (n0 + 8.., k0..), (n0 + 8.., k0 + 8..)). */
template <typename T, int LD>
__device__ __forceinline__ void fl_frag_bt2(uint32_t (&b)[4], const T *X, int n0, int k0) {
    const int l = threadIdx.x % 32;
    wf_ldmatrix_x4(b, X + (n0 + l % 8 + 8 * (l / 16)) * LD + k0 + 8 * ((l / 8) % 2));
}

/* B fragments of two adjacent n-tiles with B[k][n] = X[k0 + k][n0 + n] (X's rows are B's rows:
 * V for P V): the transposing ldmatrix over the quadrants (rows k0.., cols n0..),
 * (k0 + 8.., n0..), (k0.., n0 + 8..), (k0 + 8.., n0 + 8..): b[0..1] for n0.., b[2..3] for n0 + 8... */
template <typename T, int LD>
__device__ __forceinline__ void fl_frag_b2(uint32_t (&b)[4], const T *X, int k0, int n0) {
    const int l = threadIdx.x % 32;
    wf_ldmatrix_x4_trans(b, X + (k0 + l % 8 + 8 * ((l / 8) % 2)) * LD + n0 + 8 * (l / 16));
}

/* A fragments of a 16 x 16 slice (columns 16 kk..) of a 16 x N accumulator held as C fragments
 * c[N / 8][4]: the register reuse of FlashAttention-2 (C of one mma is A of the next). */
template <typename T, int NT>
__device__ __forceinline__ void fl_c_to_a(uint32_t (&a)[4], const float (&c)[NT][4], int kk) {
    a[0] = wf_pack_f32<T>(c[2 * kk][0], c[2 * kk][1]);
    a[1] = wf_pack_f32<T>(c[2 * kk][2], c[2 * kk][3]);
    a[2] = wf_pack_f32<T>(c[2 * kk + 1][0], c[2 * kk + 1][1]);
    a[3] = wf_pack_f32<T>(c[2 * kk + 1][2], c[2 * kk + 1][3]);
}

/* acc (16 x N) = A rows [row0, +16) of shared X times B^T, B = rows [0, N) of shared Y, both
 * (., LD) with D columns: the score tile S = Q K^T (or K Q^T, V dO^T, dO V^T). NT even. */
template <typename T, int D, int NT>
__device__ __forceinline__ void fl_scores(float (&acc)[NT][4], const T *X, int row0, const T *Y) {
    constexpr int LD = D + WF_FLASH_PAD;
#pragma unroll
    for (int n = 0; n < NT; n++) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
        uint32_t a[4];
        fl_frag_a<T, LD>(a, X, row0, 16 * kk);
#pragma unroll
        for (int n = 0; n < NT; n += 2) {
            uint32_t b[4];
            fl_frag_bt2<T, LD>(b, Y, 8 * n, 16 * kk);
            const uint32_t b0[2] = {b[0], b[1]}, b1[2] = {b[2], b[3]};
            wf_mma_16816<T>(acc[n], a, b0);
            wf_mma_16816<T>(acc[n + 1], a, b1);
        }
    }
}

/* out (16 x D) += P (16 x 8 NT, C fragments) times rows [0, 8 NT) of shared Y (., LD); D / 8
 * even (D = 32, 64, 80, 96, 128). */
template <typename T, int D, int NT>
__device__ __forceinline__ void fl_accumulate(float (&out)[D / 8][4], const float (&p)[NT][4],
                                              const T *Y) {
    constexpr int LD = D + WF_FLASH_PAD;
#pragma unroll
    for (int kk = 0; kk < NT / 2; kk++) {
        uint32_t a[4];
        fl_c_to_a<T, NT>(a, p, kk);
#pragma unroll
        for (int n = 0; n < D / 8; n += 2) {
            uint32_t b[4];
            fl_frag_b2<T, LD>(b, Y, 16 * kk, 8 * n);
            const uint32_t b0[2] = {b[0], b[1]}, b1[2] = {b[2], b[3]};
            wf_mma_16816<T>(out[n], a, b0);
            wf_mma_16816<T>(out[n + 1], a, b1);
        }
    }
}

/* Stores a 16 x D accumulator (C fragments) times mul as rows row0 + r (r < 16, row < rows) of
 * dst, row r at dst + r * stride. */
template <typename T, int D>
__device__ __forceinline__ void fl_store(T *dst, int64_t stride, int64_t row0, int64_t rows,
                                         const float (&acc)[D / 8][4], float mul0, float mul1) {
    const int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
#pragma unroll
    for (int half = 0; half < 2; half++) {
        const int64_t r = row0 + g + 8 * half;
        if (r >= rows) continue;
        const float mul = half ? mul1 : mul0;
#pragma unroll
        for (int n = 0; n < D / 8; n++)
            *reinterpret_cast<uint32_t *>(dst + r * stride + 8 * n + 2 * t) =
                wf_pack_f32<T>(acc[n][2 * half] * mul, acc[n][2 * half + 1] * mul);
    }
}

/* Forward. Grid (query tiles, B * H); block WF_FLASH_WARPS warps. Shared: Q (FL_BM, LD), K and
 * V (WF_FLASH_BN, LD). Lane (g, t) of warp w holds rows 16 w + g and 16 w + g + 8 of the tile. */
template <typename T, int D>
__global__ void __launch_bounds__(WF_FLASH_WARPS * 32)
    attention_flash_fwd_kernel(T *out, float *lse, const T *q, const T *k, const T *v,
                               flash_dims w) {
    constexpr int LD = D + WF_FLASH_PAD, NT = WF_FLASH_BN / 8;
    WF_DYN_SHARED(uint4, fl_smem);
    T *Qs = reinterpret_cast<T *>(fl_smem), *Ks = Qs + FL_BM * LD, *Vs = Ks + WF_FLASH_BN * LD;
    const int warp = threadIdx.x / 32, g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
    const int64_t bh = blockIdx.y, b = bh / w.H, h = bh % w.H, kvh = h / w.group;
    const int64_t q0 = ((int64_t)gridDim.x - 1 - blockIdx.x) * FL_BM; /* long (causal) first */
    const int64_t qstride = w.H * D, kstride = w.Hk * D;
    fl_load_rows<T, D>(Qs, q + (b * w.T * w.H + h) * D, qstride, q0, FL_BM, w.T);
    int64_t jend = w.S; /* keys past the last one the tile's last query may see are skipped */
    if (w.causal) jend = q0 + FL_BM + w.shift < w.S ? q0 + FL_BM + w.shift : w.S;
    float o[D / 8][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
#pragma unroll
    for (int n = 0; n < D / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    const int64_t i0 = q0 + 16 * warp + g; /* this lane's rows: i0 and i0 + 8 */
    for (int64_t j0 = 0; j0 < jend; j0 += WF_FLASH_BN) {
        __syncthreads(); /* the previous tile's K, V are no longer read */
        const T *kb = k + (b * w.S * w.Hk + kvh) * D, *vb = v + (b * w.S * w.Hk + kvh) * D;
        fl_load_rows<T, D>(Ks, kb, kstride, j0, WF_FLASH_BN, w.S);
        fl_load_rows<T, D>(Vs, vb, kstride, j0, WF_FLASH_BN, w.S);
        __syncthreads();
        float s[NT][4];
        fl_scores<T, D, NT>(s, Qs, 16 * warp, Ks);
        const bool check = w.key_mask || w.doc_ids || j0 + WF_FLASH_BN > w.S ||
                           (w.causal && j0 + WF_FLASH_BN - 1 > q0 + w.shift) || q0 + FL_BM > w.T;
#pragma unroll
        for (int half = 0; half < 2; half++) {
            const int64_t i = i0 + 8 * half;
            float mx = -INFINITY;
#pragma unroll
            for (int n = 0; n < NT; n++)
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    float &x = s[n][2 * half + e];
                    const int64_t j = j0 + 8 * n + 2 * t + e;
                    x = check && !fl_visible(w, b, i, j) ? -INFINITY : x * w.scale_log2;
                    mx = fmaxf(mx, x);
                }
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float mn = fmaxf(m[half], mx), base = mn == -INFINITY ? 0.0f : mn;
            const float corr = exp2f(m[half] - base); /* 0 while the row had no key */
            float sum = 0.0f;
#pragma unroll
            for (int n = 0; n < NT; n++)
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    float &x = s[n][2 * half + e];
                    x = exp2f(x - base); /* exp2(-inf) = 0 */
                    sum += x;
                }
            l[half] = l[half] * corr + sum, m[half] = mn;
#pragma unroll
            for (int n = 0; n < D / 8; n++) o[n][2 * half] *= corr, o[n][2 * half + 1] *= corr;
        }
        fl_accumulate<T, D, NT>(o, s, Vs);
    }
    float inv[2];
#pragma unroll
    for (int half = 0; half < 2; half++) { /* the row's sum over its quad, in a fixed order */
        l[half] += __shfl_xor_sync(0xffffffffu, l[half], 1);
        l[half] += __shfl_xor_sync(0xffffffffu, l[half], 2);
        const bool none = m[half] == -INFINITY; /* no visible key: out = 0, lse = 0 */
        inv[half] = none ? 0.0f : 1.0f / l[half];
        const int64_t i = i0 + 8 * half;
        if (t == 0 && i < w.T)
            lse[bh * w.T + i] = none ? 0.0f : (m[half] + log2f(l[half])) * FL_LN2;
    }
    fl_store<T, D>(out + (b * w.T * w.H + h) * D, qstride, q0 + 16 * warp, w.T, o, inv[0], inv[1]);
}

/* Backward pass 0: Dvec[(b H + h) T + i] = dO_i . O_i in fp32, one warp per row, lanes over d
 * and a butterfly (fixed order). */
template <typename T>
__global__ void __launch_bounds__(WF_FLASH_WARPS * 32)
    attention_flash_dot_kernel(float *Dvec, const T *out, const T *dout, int64_t D, flash_dims w) {
    const int lane = threadIdx.x % 32;
    const int64_t rows = w.B * w.H * w.T, nw = (int64_t)gridDim.x * WF_FLASH_WARPS;
    for (int64_t row = (int64_t)blockIdx.x * WF_FLASH_WARPS + threadIdx.x / 32; row < rows;
         row += nw) { /* row = (b H + h) T + i */
        const int64_t i = row % w.T, h = (row / w.T) % w.H, b = row / (w.T * w.H);
        const int64_t off = ((b * w.T + i) * w.H + h) * D;
        float s = 0.0f;
        for (int64_t d = lane; d < D; d += 32) s += wf_to_f32(dout[off + d]) * wf_to_f32(out[off + d]);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0) Dvec[row] = s;
    }
}

/* P (16 x 8 NT, in place of the scores s) = exp(scale s - lse) where visible, else 0, and
 * returns nothing: rows of the tile are the lanes' rows r0 + g (+ 8), columns c0 + 8 n + 2 t
 * (+ 1). rows_are_queries tells which of the two index the queries (dq: rows; dk/dv: columns).
 * lse2: the base-2 lse of each row (rows_are_queries) or of each column (in shared memory). */
template <int NT>
__device__ __forceinline__ void fl_probs(float (&s)[NT][4], const flash_dims &w, int64_t b,
                                         int64_t r0, int64_t c0, bool rows_are_queries,
                                         const float (&row_lse2)[2], const float *col_lse2) {
    const int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
#pragma unroll
    for (int n = 0; n < NT; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int64_t r = r0 + g + 8 * (e / 2), c = c0 + 8 * n + 2 * t + e % 2;
            const bool vis = rows_are_queries ? fl_visible(w, b, r, c) : fl_visible(w, b, c, r);
            const float L = rows_are_queries ? row_lse2[e / 2] : col_lse2[8 * n + 2 * t + e % 2];
            s[n][e] = vis ? exp2f(s[n][e] * w.scale_log2 - L) : 0.0f;
        }
}

/* Backward dq. Grid (query tiles, B * H). Shared: Q, dO (FL_BM, LD); K, V (WF_FLASH_BN, LD).
 * dq_i = scale sum_j P_ij (dP_ij - Dvec_i) k_j, dP = dO V^T, over key tiles in order. */
template <typename T, int D>
__global__ void __launch_bounds__(WF_FLASH_WARPS * 32)
    attention_flash_dq_kernel(T *dq, const T *q, const T *k, const T *v, const T *dout,
                              const float *lse, const float *Dvec, float scale, flash_dims w) {
    constexpr int LD = D + WF_FLASH_PAD, NT = WF_FLASH_BN / 8;
    WF_DYN_SHARED(uint4, fl_smem);
    T *Qs = reinterpret_cast<T *>(fl_smem), *dOs = Qs + FL_BM * LD, *Ks = dOs + FL_BM * LD;
    T *Vs = Ks + WF_FLASH_BN * LD;
    const int warp = threadIdx.x / 32, g = (threadIdx.x % 32) / 4;
    const int64_t bh = blockIdx.y, b = bh / w.H, h = bh % w.H, kvh = h / w.group;
    const int64_t q0 = ((int64_t)gridDim.x - 1 - blockIdx.x) * FL_BM;
    const int64_t qstride = w.H * D, kstride = w.Hk * D, qoff = (b * w.T * w.H + h) * D;
    fl_load_rows<T, D>(Qs, q + qoff, qstride, q0, FL_BM, w.T);
    fl_load_rows<T, D>(dOs, dout + qoff, qstride, q0, FL_BM, w.T);
    const int64_t i0 = q0 + 16 * warp + g;
    float lse2[2], Di[2];
#pragma unroll
    for (int half = 0; half < 2; half++) {
        const int64_t i = i0 + 8 * half;
        lse2[half] = i < w.T ? lse[bh * w.T + i] * FL_LOG2E : 0.0f;
        Di[half] = i < w.T ? Dvec[bh * w.T + i] : 0.0f;
    }
    int64_t jend = w.S;
    if (w.causal) jend = q0 + FL_BM + w.shift < w.S ? q0 + FL_BM + w.shift : w.S;
    float acc[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; n++) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
    for (int64_t j0 = 0; j0 < jend; j0 += WF_FLASH_BN) {
        __syncthreads();
        const int64_t koff = (b * w.S * w.Hk + kvh) * D;
        fl_load_rows<T, D>(Ks, k + koff, kstride, j0, WF_FLASH_BN, w.S);
        fl_load_rows<T, D>(Vs, v + koff, kstride, j0, WF_FLASH_BN, w.S);
        __syncthreads();
        float p[NT][4], dp[NT][4];
        fl_scores<T, D, NT>(p, Qs, 16 * warp, Ks);
        fl_probs<NT>(p, w, b, q0 + 16 * warp, j0, true, lse2, nullptr);
        fl_scores<T, D, NT>(dp, dOs, 16 * warp, Vs);
#pragma unroll
        for (int n = 0; n < NT; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) dp[n][e] = p[n][e] * (dp[n][e] - Di[e / 2]); /* dS */
        fl_accumulate<T, D, NT>(acc, dp, Ks);
    }
    fl_store<T, D>(dq + qoff, qstride, q0 + 16 * warp, w.T, acc, scale, scale);
}

/* Backward dk, dv. Grid (key tiles of FL_BM, B * Hk). Shared: K, V (FL_BM, LD); Q, dO
 * (WF_FLASH_BQ, LD); the query tile's base-2 lse and Dvec. Warp w owns keys 16 w.. of the tile;
 * with the transposed tiles S^T = K Q^T, P^T, dP^T = V dO^T (keys as rows):
 *   dv_j = sum_i P_ij dO_i,  dk_j = scale sum_i P_ij (dP_ij - Dvec_i) q_i,
 * over the group's query heads, then queries, in increasing order. */
template <typename T, int D>
__global__ void __launch_bounds__(WF_FLASH_WARPS * 32)
    attention_flash_dkv_kernel(T *dk, T *dv, const T *q, const T *k, const T *v, const T *dout,
                               const float *lse, const float *Dvec, float scale, flash_dims w) {
    constexpr int LD = D + WF_FLASH_PAD, NT = WF_FLASH_BQ / 8;
    WF_DYN_SHARED(uint4, fl_smem);
    T *Ks = reinterpret_cast<T *>(fl_smem), *Vs = Ks + FL_BM * LD, *Qs = Vs + FL_BM * LD;
    T *dOs = Qs + WF_FLASH_BQ * LD;
    float *lse_s = reinterpret_cast<float *>(dOs + WF_FLASH_BQ * LD), *D_s = lse_s + WF_FLASH_BQ;
    const int warp = threadIdx.x / 32;
    const int64_t bg = blockIdx.y, b = bg / w.Hk, kvh = bg % w.Hk;
    const int64_t k0 = (int64_t)blockIdx.x * FL_BM;
    const int64_t qstride = w.H * D, kstride = w.Hk * D, koff = (b * w.S * w.Hk + kvh) * D;
    fl_load_rows<T, D>(Ks, k + koff, kstride, k0, FL_BM, w.S);
    fl_load_rows<T, D>(Vs, v + koff, kstride, k0, FL_BM, w.S);
    /* queries before k0 - shift see none of these keys (causal) */
    int64_t istart = w.causal && k0 - w.shift > 0 ? (k0 - w.shift) / WF_FLASH_BQ * WF_FLASH_BQ : 0;
    float adk[D / 8][4], adv[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) adk[n][e] = adv[n][e] = 0.0f;
    const float none[2] = {0.0f, 0.0f};
    for (int64_t h = kvh * w.group; h < (kvh + 1) * w.group; h++) {
        const int64_t qoff = (b * w.T * w.H + h) * D, bh = b * w.H + h;
        for (int64_t i0 = istart; i0 < w.T; i0 += WF_FLASH_BQ) {
            __syncthreads(); /* the previous query tile is no longer read */
            fl_load_rows<T, D>(Qs, q + qoff, qstride, i0, WF_FLASH_BQ, w.T);
            fl_load_rows<T, D>(dOs, dout + qoff, qstride, i0, WF_FLASH_BQ, w.T);
            for (int x = threadIdx.x; x < WF_FLASH_BQ; x += blockDim.x) {
                const bool in = i0 + x < w.T;
                lse_s[x] = in ? lse[bh * w.T + i0 + x] * FL_LOG2E : 0.0f;
                D_s[x] = in ? Dvec[bh * w.T + i0 + x] : 0.0f;
            }
            __syncthreads();
            float p[NT][4], dp[NT][4];
            fl_scores<T, D, NT>(p, Ks, 16 * warp, Qs);
            fl_probs<NT>(p, w, b, k0 + 16 * warp, i0, false, none, lse_s);
            fl_accumulate<T, D, NT>(adv, p, dOs);
            fl_scores<T, D, NT>(dp, Vs, 16 * warp, dOs);
            const int t = threadIdx.x % 4;
#pragma unroll
            for (int n = 0; n < NT; n++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                    dp[n][e] = p[n][e] * (dp[n][e] - D_s[8 * n + 2 * t + e % 2]);
            fl_accumulate<T, D, NT>(adk, dp, Qs);
        }
    }
    fl_store<T, D>(dk + koff, kstride, k0 + 16 * warp, w.S, adk, scale, scale);
    fl_store<T, D>(dv + koff, kstride, k0 + 16 * warp, w.S, adv, 1.0f, 1.0f);
}

#endif
