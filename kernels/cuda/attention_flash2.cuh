/* Tiled tensor-core attention, variant "flash2" (WF_CUDA_ATTENTION=flash2; opt-in until a GPU run
 * verifies and times it): the kernels of attention_flash.cuh (same fragments, masks, sums and
 * results contract) restructured after FlashAttention-2 (Dao 2023, arXiv:2307.08691, sec. 3.3)
 * for speed: K/V (forward, dq) and Q/dO/lse/Dvec (dk/dv) tiles arrive by cp.async one tile ahead
 * into double buffers, so loads overlap the mma work; 128 queries (keys) a block at D <= 64;
 * masks evaluated, per warp, only on tiles that need them (causal diagonal, ragged edges,
 * key_mask, doc_ids), all other tiles run mask-free, and a warp skips the causal tiles none of its
 * rows sees (exact: such a tile adds P = 0 and rescales by 1). Deterministic, no atomics: dq and
 * dk/dv each sum in a fixed order. Not here: launchers (attention_tiled.cuh), the Dvec kernel
 * (attention_flash.cuh).
 * Reference: kernels/cpu/attention.c; fragment layouts: mma.cuh. */
#ifndef WEFT_KERNELS_CUDA_ATTENTION_FLASH2_CUH
#define WEFT_KERNELS_CUDA_ATTENTION_FLASH2_CUH

#include <type_traits>

#include "attention_flash.cuh"

/* A flash2 tile configuration (tuning.cuh): W warps a block; in the forward and dq kernels a
 * warp owns MQ stacked 16-row m-tiles of queries (BMQ = 16 MQ W queries a block), in the dk/dv
 * kernel MK m-tiles of keys (BMK = 16 MK W keys a block); BN keys a forward/dq tile, BQ queries
 * a dk/dv tile. A warp with two m-tiles loads each K/V (Q/dO) fragment from shared memory once
 * for both, as FlashAttention-2's 128-row 4-warp forward blocks do, at twice the accumulator
 * registers. The kernels below take it as a template parameter; attention.cu picks one. */
template <int W_, int BN_, int BQ_, int MQ_ = 1, int MK_ = 1> struct fl2_tiles {
    static_assert(W_ >= 1 && BN_ % 16 == 0 && BQ_ % 16 == 0, "tiles of whole 16-row mma steps");
    static_assert(MQ_ >= 1 && MK_ >= 1, "at least one m-tile a warp");
    static constexpr int W = W_, BN = BN_, BQ = BQ_, MQ = MQ_, MK = MK_;
    static constexpr int BMQ = 16 * MQ_ * W_, BMK = 16 * MK_ * W_;
};

/* The default configuration for head dim D (tuning.cuh's WF_FLASH2_* constants). */
template <int D>
using fl2_default = fl2_tiles<D <= 64 ? WF_FLASH2_WARPS_SMALL : WF_FLASH2_WARPS_LARGE,
                              WF_FLASH2_BN, D <= 64 ? WF_FLASH2_BQ_SMALL : WF_FLASH2_BQ_LARGE>;

/* Whether this compilation pass holds the kernel bodies of configuration C: the default one
 * everywhere, the alternatives (WF_FLASH2_CONFIG) only on sm_90 and later (and the emulator's
 * host pass), so the other architectures CI builds compile each as an empty stub. attention.cu
 * refuses an alternative at backend open on a device below sm_90. */
template <int D, class C> constexpr bool fl2_built() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
    return std::is_same<C, fl2_default<D>>::value;
#else
    return true;
#endif
}

/* fl_load_rows by cp.async (no wait): rows [r0, r0 + nrows) of a (rows_total, stride) matrix
 * into shared dst (nrows, LD); rows past rows_total are zero-filled (their source address is
 * row r0's, which exists: callers only load tiles with r0 < rows_total). All threads call. */
template <typename T, int D>
__device__ __forceinline__ void fl2_load_rows(T *dst, const T *src, int64_t stride, int64_t r0,
                                              int nrows, int64_t rows_total) {
    constexpr int LD = D + WF_FLASH_PAD, CH = D / 8;
    for (int x = threadIdx.x; x < nrows * CH; x += blockDim.x) {
        const int r = x / CH, c = (x % CH) * 8;
        const bool in = r0 + r < rows_total;
        wf_cp_async<16>(dst + r * LD + c, src + (in ? r0 + r : r0) * stride + c, in);
    }
}

/* n fp32 values src[i0 + x] (x < n, zero where i0 + x >= total) into shared dst by cp.async. */
__device__ __forceinline__ void fl2_load_vec(float *dst, const float *src, int64_t i0, int n,
                                             int64_t total) {
    for (int x = threadIdx.x; x < n; x += blockDim.x) {
        const bool in = i0 + x < total;
        wf_cp_async<4>(dst + x, src + (in ? i0 + x : i0), in);
    }
}

/* Online-softmax step of one 16 x 8 NT score tile s (raw Q K^T) for the lane's two rows i0,
 * i0 + 8 at keys j0..: masks when check (else the tile is known fully visible), scales into the
 * base-2 domain, updates the running max m and sum l, rescales o, leaves P in s. */
template <int D, int NT>
__device__ __forceinline__ void fl2_softmax(float (&s)[NT][4], float (&o)[D / 8][4], float (&m)[2],
                                            float (&l)[2], const flash_dims &w, int64_t b,
                                            int64_t i0, int64_t j0, bool check) {
    const int t = threadIdx.x % 4;
#pragma unroll
    for (int half = 0; half < 2; half++) {
        const int64_t i = i0 + 8 * half;
        float mx = -INFINITY;
#pragma unroll
        for (int n = 0; n < NT; n++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                float &x = s[n][2 * half + e];
                x = check && !fl_visible(w, b, i, j0 + 8 * n + 2 * t + e) ? -INFINITY
                                                                           : x * w.scale_log2;
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
}

/* fl_scores for MT stacked m-tiles (rows row0 + 16 mt..): each pair of B fragments is loaded
 * once for all of them. Per m-tile the same mma sequence as fl_scores (same sums). */
template <typename T, int D, int NT, int MT>
__device__ __forceinline__ void fl2_scores(float (&acc)[MT][NT][4], const T *X, int row0,
                                           const T *Y) {
    constexpr int LD = D + WF_FLASH_PAD;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int n = 0; n < NT; n++) acc[mt][n][0] = acc[mt][n][1] = acc[mt][n][2] = acc[mt][n][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
        uint32_t a[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++) fl_frag_a<T, LD>(a[mt], X, row0 + 16 * mt, 16 * kk);
#pragma unroll
        for (int n = 0; n < NT; n += 2) {
            uint32_t b[4];
            fl_frag_bt2<T, LD>(b, Y, 8 * n, 16 * kk);
            const uint32_t b0[2] = {b[0], b[1]}, b1[2] = {b[2], b[3]};
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                wf_mma_16816<T>(acc[mt][n], a[mt], b0);
                wf_mma_16816<T>(acc[mt][n + 1], a[mt], b1);
            }
        }
    }
}

/* fl_accumulate for MT stacked m-tiles: out[mt] (16 x D) += p[mt] (16 x 8 NT) times rows
 * [0, 8 NT) of shared Y, each B fragment pair loaded once for all m-tiles (same sums). */
template <typename T, int D, int NT, int MT>
__device__ __forceinline__ void fl2_accumulate(float (&out)[MT][D / 8][4],
                                               const float (&p)[MT][NT][4], const T *Y) {
    constexpr int LD = D + WF_FLASH_PAD;
#pragma unroll
    for (int kk = 0; kk < NT / 2; kk++) {
        uint32_t a[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++) fl_c_to_a<T, NT>(a[mt], p[mt], kk);
#pragma unroll
        for (int n = 0; n < D / 8; n += 2) {
            uint32_t b[4];
            fl_frag_b2<T, LD>(b, Y, 16 * kk, 8 * n);
            const uint32_t b0[2] = {b[0], b[1]}, b1[2] = {b[2], b[3]};
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                wf_mma_16816<T>(out[mt][n], a[mt], b0);
                wf_mma_16816<T>(out[mt][n + 1], a[mt], b1);
            }
        }
    }
}

/* Zeroes MT accumulators of 16 x D. */
template <int D, int MT>
__device__ __forceinline__ void fl2_zero(float (&acc)[MT][D / 8][4]) {
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int n = 0; n < D / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[mt][n][e] = 0.0f;
}

/* Forward (body of attention_flash2_fwd_kernel). Grid (query tiles of BMQ, B * H); block W
 * warps, warp w owning queries RW w.. (RW = 16 MQ). Shared: Q (BMQ, LD), then two buffers of K,
 * V (BN, LD) each. Tile it + 1 is loaded while tile it is computed on. */
template <typename T, int D, class C>
__device__ __forceinline__ void fl2_fwd(T *out, float *lse, const T *q, const T *k, const T *v,
                                        const flash_dims &w) {
    constexpr int LD = D + WF_FLASH_PAD, BN = C::BN, NT = BN / 8, BM = C::BMQ, MT = C::MQ;
    constexpr int RW = 16 * MT; /* rows a warp */
    WF_DYN_SHARED(uint4, fl_smem);
    T *Qs = reinterpret_cast<T *>(fl_smem), *KV = Qs + BM * LD; /* buffer x: KV + 2 x BN LD */
    const int warp = threadIdx.x / 32, g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
    const int64_t bh = blockIdx.y, b = bh / w.H, h = bh % w.H, kvh = h / w.group;
    const int64_t q0 = ((int64_t)gridDim.x - 1 - blockIdx.x) * BM; /* long (causal) first */
    const int64_t qstride = w.H * D, kstride = w.Hk * D;
    const T *kb = k + (b * w.S * w.Hk + kvh) * D, *vb = v + (b * w.S * w.Hk + kvh) * D;
    int64_t jend = w.S; /* keys past the last one the tile's last query may see are skipped */
    if (w.causal) jend = q0 + BM + w.shift < w.S ? q0 + BM + w.shift : w.S;
    const int64_t ntiles = jend > 0 ? (jend + BN - 1) / BN : 0;
    fl2_load_rows<T, D>(Qs, q + (b * w.T * w.H + h) * D, qstride, q0, BM, w.T);
    if (ntiles > 0) {
        fl2_load_rows<T, D>(KV, kb, kstride, 0, BN, w.S);
        fl2_load_rows<T, D>(KV + BN * LD, vb, kstride, 0, BN, w.S);
    }
    wf_cp_async_commit();
    float o[MT][D / 8][4], m[MT][2], l[MT][2];
    fl2_zero<D, MT>(o);
#pragma unroll
    for (int mt = 0; mt < MT; mt++) m[mt][0] = m[mt][1] = -INFINITY, l[mt][0] = l[mt][1] = 0.0f;
    const int64_t r0 = q0 + RW * warp; /* the warp's first query */
    const int64_t i0 = r0 + g;         /* m-tile mt's rows of this lane: i0 + 16 mt (+ 8) */
    for (int64_t it = 0; it < ntiles; it++) {
        const int64_t j0 = it * BN;
        if (it + 1 < ntiles) { /* its buffer was last read in iteration it - 1 (synced below) */
            T *nx = KV + ((it + 1) % 2) * 2 * BN * LD;
            fl2_load_rows<T, D>(nx, kb, kstride, j0 + BN, BN, w.S);
            fl2_load_rows<T, D>(nx + BN * LD, vb, kstride, j0 + BN, BN, w.S);
        }
        wf_cp_async_commit(); /* possibly empty: keeps the group count uniform */
        wf_cp_async_wait<1>(); /* everything but tile it + 1 has landed (this thread's part) */
        __syncthreads();
        const T *Ks = KV + (it % 2) * 2 * BN * LD, *Vs = Ks + BN * LD;
        if (!(w.causal && j0 > r0 + RW - 1 + w.shift)) { /* else: no key visible to the warp */
            float s[MT][NT][4];
            fl2_scores<T, D, NT, MT>(s, Qs, RW * warp, Ks);
            const bool check = w.key_mask || w.doc_ids || j0 + BN > w.S ||
                               (w.causal && j0 + BN - 1 > r0 + w.shift) || r0 + RW > w.T;
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
                fl2_softmax<D, NT>(s[mt], o[mt], m[mt], l[mt], w, b, i0 + 16 * mt, j0, check);
            fl2_accumulate<T, D, NT, MT>(o, s, Vs);
        }
        __syncthreads(); /* tile it's buffer is refilled in iteration it + 1 */
    }
    wf_cp_async_wait<0>(); /* nothing may stay in flight at exit (ntiles = 0: Q) */
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        float inv[2];
#pragma unroll
        for (int half = 0; half < 2; half++) { /* the row's sum over its quad, in a fixed order */
            float &lh = l[mt][half];
            lh += __shfl_xor_sync(0xffffffffu, lh, 1);
            lh += __shfl_xor_sync(0xffffffffu, lh, 2);
            const bool none = m[mt][half] == -INFINITY; /* no visible key: out = 0, lse = 0 */
            inv[half] = none ? 0.0f : 1.0f / lh;
            const int64_t i = i0 + 16 * mt + 8 * half;
            if (t == 0 && i < w.T)
                lse[bh * w.T + i] = none ? 0.0f : (m[mt][half] + log2f(lh)) * FL_LN2;
        }
        fl_store<T, D>(out + (b * w.T * w.H + h) * D, qstride, q0 + RW * warp + 16 * mt, w.T,
                       o[mt], inv[0], inv[1]);
    }
}

/* P (16 x 8 NT, in place of the raw scores s) = exp2(scale_log2 s - L) where visible (checked
 * only when check), else 0. Rows r0 + g (+ 8), columns c0 + 8 n + 2 t (+ 1); rows_are_queries
 * tells which index the queries. L: the natural lse of each row (row_lse, rows_are_queries) or
 * of each column (col_lse in shared memory), times log2(e) here. */
template <int NT>
__device__ __forceinline__ void fl2_probs(float (&s)[NT][4], const flash_dims &w, int64_t b,
                                          int64_t r0, int64_t c0, bool rows_are_queries,
                                          bool check, const float (&row_lse)[2],
                                          const float *col_lse) {
    const int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
#pragma unroll
    for (int n = 0; n < NT; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int64_t r = r0 + g + 8 * (e / 2), c = c0 + 8 * n + 2 * t + e % 2;
            const float L = rows_are_queries ? row_lse[e / 2] : col_lse[8 * n + 2 * t + e % 2];
            const float p = exp2f(s[n][e] * w.scale_log2 - L * FL_LOG2E);
            bool vis = true;
            if (check) vis = rows_are_queries ? fl_visible(w, b, r, c) : fl_visible(w, b, c, r);
            s[n][e] = vis ? p : 0.0f;
        }
}

/* Backward dq (body of attention_flash2_dq_kernel). Grid (query tiles of BMQ, B * H); warp w
 * owns queries RW w.. (RW = 16 MQ). Shared: Q, dO (BMQ, LD), then two buffers of K, V (BN, LD).
 * dq_i = scale sum_j P_ij (dP_ij - Dvec_i) k_j over key tiles in order. */
template <typename T, int D, class C>
__device__ __forceinline__ void fl2_dq(T *dq, const T *q, const T *k, const T *v, const T *dout,
                                       const float *lse, const float *Dvec, float scale,
                                       const flash_dims &w) {
    constexpr int LD = D + WF_FLASH_PAD, BN = C::BN, NT = BN / 8, BM = C::BMQ, MT = C::MQ;
    constexpr int RW = 16 * MT;
    WF_DYN_SHARED(uint4, fl_smem);
    T *Qs = reinterpret_cast<T *>(fl_smem), *dOs = Qs + BM * LD, *KV = dOs + BM * LD;
    const int warp = threadIdx.x / 32, g = (threadIdx.x % 32) / 4;
    const int64_t bh = blockIdx.y, b = bh / w.H, h = bh % w.H, kvh = h / w.group;
    const int64_t q0 = ((int64_t)gridDim.x - 1 - blockIdx.x) * BM;
    const int64_t qstride = w.H * D, kstride = w.Hk * D, qoff = (b * w.T * w.H + h) * D;
    const T *kb = k + (b * w.S * w.Hk + kvh) * D, *vb = v + (b * w.S * w.Hk + kvh) * D;
    int64_t jend = w.S;
    if (w.causal) jend = q0 + BM + w.shift < w.S ? q0 + BM + w.shift : w.S;
    const int64_t ntiles = jend > 0 ? (jend + BN - 1) / BN : 0;
    fl2_load_rows<T, D>(Qs, q + qoff, qstride, q0, BM, w.T);
    fl2_load_rows<T, D>(dOs, dout + qoff, qstride, q0, BM, w.T);
    if (ntiles > 0) {
        fl2_load_rows<T, D>(KV, kb, kstride, 0, BN, w.S);
        fl2_load_rows<T, D>(KV + BN * LD, vb, kstride, 0, BN, w.S);
    }
    wf_cp_async_commit();
    const int64_t r0 = q0 + RW * warp, i0 = r0 + g; /* the warp's first query, the lane's */
    float lse_r[MT][2], Di[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int half = 0; half < 2; half++) {
            const int64_t i = i0 + 16 * mt + 8 * half;
            lse_r[mt][half] = i < w.T ? lse[bh * w.T + i] : 0.0f;
            Di[mt][half] = i < w.T ? Dvec[bh * w.T + i] : 0.0f;
        }
    float acc[MT][D / 8][4];
    fl2_zero<D, MT>(acc);
    for (int64_t it = 0; it < ntiles; it++) {
        const int64_t j0 = it * BN;
        if (it + 1 < ntiles) {
            T *nx = KV + ((it + 1) % 2) * 2 * BN * LD;
            fl2_load_rows<T, D>(nx, kb, kstride, j0 + BN, BN, w.S);
            fl2_load_rows<T, D>(nx + BN * LD, vb, kstride, j0 + BN, BN, w.S);
        }
        wf_cp_async_commit();
        wf_cp_async_wait<1>();
        __syncthreads();
        const T *Ks = KV + (it % 2) * 2 * BN * LD, *Vs = Ks + BN * LD;
        if (!(w.causal && j0 > r0 + RW - 1 + w.shift)) { /* else: no key visible to the warp */
            const bool check = w.key_mask || w.doc_ids || j0 + BN > w.S ||
                               (w.causal && j0 + BN - 1 > r0 + w.shift) || r0 + RW > w.T;
            float p[MT][NT][4], dp[MT][NT][4];
            fl2_scores<T, D, NT, MT>(p, Qs, RW * warp, Ks);
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
                fl2_probs<NT>(p[mt], w, b, r0 + 16 * mt, j0, true, check, lse_r[mt], nullptr);
            fl2_scores<T, D, NT, MT>(dp, dOs, RW * warp, Vs);
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int n = 0; n < NT; n++)
#pragma unroll
                    for (int e = 0; e < 4; e++) /* dS */
                        dp[mt][n][e] = p[mt][n][e] * (dp[mt][n][e] - Di[mt][e / 2]);
            fl2_accumulate<T, D, NT, MT>(acc, dp, Ks);
        }
        __syncthreads();
    }
    wf_cp_async_wait<0>();
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
        fl_store<T, D>(dq + qoff, qstride, q0 + RW * warp + 16 * mt, w.T, acc[mt], scale, scale);
}

/* Loads query tile x of the dk/dv kernel's (head, query tile) sequence into buffer buf: Q, dO
 * (BQ, LD), lse, Dvec (BQ) of head kvh * group + x / nq, queries istart + (x % nq) BQ... */
template <typename T, int D, int BQ>
__device__ __forceinline__ void fl2_load_qtile(T *buf, const T *q, const T *dout,
                                               const float *lse, const float *Dvec,
                                               const flash_dims &w, int64_t b, int64_t kvh,
                                               int64_t istart, int64_t nq, int64_t x) {
    constexpr int LD = D + WF_FLASH_PAD;
    const int64_t h = kvh * w.group + x / nq, i0 = istart + (x % nq) * BQ;
    const int64_t qoff = (b * w.T * w.H + h) * D, bh = b * w.H + h;
    fl2_load_rows<T, D>(buf, q + qoff, w.H * D, i0, BQ, w.T);
    fl2_load_rows<T, D>(buf + BQ * LD, dout + qoff, w.H * D, i0, BQ, w.T);
    float *vec = reinterpret_cast<float *>(buf + 2 * BQ * LD);
    fl2_load_vec(vec, lse + bh * w.T, i0, BQ, w.T);
    fl2_load_vec(vec + BQ, Dvec + bh * w.T, i0, BQ, w.T);
}

/* Backward dk, dv (body of attention_flash2_dkv_kernel). Grid (key tiles of BMK, B * Hk).
 * Shared: K, V (BMK, LD), then two buffers of Q, dO (BQ, LD) and lse, Dvec (BQ fp32). Warp w
 * owns keys RW w.. (RW = 16 MK) of the tile; with keys as rows (S^T = K Q^T, dP^T = V dO^T):
 * dv_j = sum_i P_ij dO_i, dk_j = scale sum_i dS_ij q_i, over the group's query heads, then
 * query tiles, in increasing order (deterministic). */
template <typename T, int D, class C>
__device__ __forceinline__ void fl2_dkv(T *dk, T *dv, const T *q, const T *k, const T *v,
                                        const T *dout, const float *lse, const float *Dvec,
                                        float scale, const flash_dims &w) {
    constexpr int LD = D + WF_FLASH_PAD, BM = C::BMK, BQ = C::BQ, NT = BQ / 8, MT = C::MK;
    constexpr int RW = 16 * MT;
    constexpr int BUF = 2 * BQ * LD + 2 * BQ * 2; /* T elements a buffer (2 fp32 vectors) */
    WF_DYN_SHARED(uint4, fl_smem);
    T *Ks = reinterpret_cast<T *>(fl_smem), *Vs = Ks + BM * LD, *QB = Vs + BM * LD;
    const int warp = threadIdx.x / 32, t = threadIdx.x % 4;
    const int64_t bg = blockIdx.y, b = bg / w.Hk, kvh = bg % w.Hk;
    const int64_t k0 = (int64_t)blockIdx.x * BM, kw = k0 + RW * warp; /* the warp's first key */
    const int64_t kstride = w.Hk * D, koff = (b * w.S * w.Hk + kvh) * D;
    /* queries before k0 - shift see none of these keys (causal) */
    const int64_t istart = w.causal && k0 - w.shift > 0 ? (k0 - w.shift) / BQ * BQ : 0;
    const int64_t nq = istart < w.T ? (w.T - istart + BQ - 1) / BQ : 0, ntiles = w.group * nq;
    fl2_load_rows<T, D>(Ks, k + koff, kstride, k0, BM, w.S);
    fl2_load_rows<T, D>(Vs, v + koff, kstride, k0, BM, w.S);
    if (ntiles > 0) fl2_load_qtile<T, D, BQ>(QB, q, dout, lse, Dvec, w, b, kvh, istart, nq, 0);
    wf_cp_async_commit();
    float adk[MT][D / 8][4], adv[MT][D / 8][4];
    fl2_zero<D, MT>(adk);
    fl2_zero<D, MT>(adv);
    const float none[2] = {0.0f, 0.0f};
    for (int64_t it = 0; it < ntiles; it++) {
        if (it + 1 < ntiles)
            fl2_load_qtile<T, D, BQ>(QB + ((it + 1) % 2) * BUF, q, dout, lse, Dvec, w, b, kvh,
                                     istart, nq, it + 1);
        wf_cp_async_commit();
        wf_cp_async_wait<1>();
        __syncthreads();
        const T *Qs = QB + (it % 2) * BUF, *dOs = Qs + BQ * LD;
        const float *lse_s = reinterpret_cast<const float *>(dOs + BQ * LD), *D_s = lse_s + BQ;
        const int64_t i0 = istart + (it % nq) * BQ;
        if (!(w.causal && i0 + BQ - 1 + w.shift < kw)) { /* else: no query sees the warp's keys */
            const bool check = w.key_mask || w.doc_ids || kw + RW > w.S || i0 + BQ > w.T ||
                               (w.causal && kw + RW - 1 > i0 + w.shift);
            float p[MT][NT][4], dp[MT][NT][4];
            fl2_scores<T, D, NT, MT>(p, Ks, RW * warp, Qs);
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
                fl2_probs<NT>(p[mt], w, b, kw + 16 * mt, i0, false, check, none, lse_s);
            fl2_accumulate<T, D, NT, MT>(adv, p, dOs);
            fl2_scores<T, D, NT, MT>(dp, Vs, RW * warp, dOs);
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int n = 0; n < NT; n++)
#pragma unroll
                    for (int e = 0; e < 4; e++)
                        dp[mt][n][e] = p[mt][n][e] * (dp[mt][n][e] - D_s[8 * n + 2 * t + e % 2]);
            fl2_accumulate<T, D, NT, MT>(adk, dp, Qs);
        }
        __syncthreads();
    }
    wf_cp_async_wait<0>();
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        fl_store<T, D>(dk + koff, kstride, k0 + RW * warp + 16 * mt, w.S, adk[mt], scale, scale);
        fl_store<T, D>(dv + koff, kstride, k0 + RW * warp + 16 * mt, w.S, adv[mt], 1.0f, 1.0f);
    }
}

/* The kernels: configuration C's bodies where fl2_built says this pass holds them, else a
 * stub that traps (never launched: attention.cu checks the device at backend open). */
template <typename T, int D, class C>
__global__ void __launch_bounds__(C::W * 32)
    attention_flash2_fwd_kernel(T *out, float *lse, const T *q, const T *k, const T *v,
                                flash_dims w) {
    if constexpr (fl2_built<D, C>()) fl2_fwd<T, D, C>(out, lse, q, k, v, w);
    else __trap();
}

template <typename T, int D, class C>
__global__ void __launch_bounds__(C::W * 32)
    attention_flash2_dq_kernel(T *dq, const T *q, const T *k, const T *v, const T *dout,
                               const float *lse, const float *Dvec, float scale, flash_dims w) {
    if constexpr (fl2_built<D, C>()) fl2_dq<T, D, C>(dq, q, k, v, dout, lse, Dvec, scale, w);
    else __trap();
}

template <typename T, int D, class C>
__global__ void __launch_bounds__(C::W * 32)
    attention_flash2_dkv_kernel(T *dk, T *dv, const T *q, const T *k, const T *v, const T *dout,
                                const float *lse, const float *Dvec, float scale, flash_dims w) {
    if constexpr (fl2_built<D, C>())
        fl2_dkv<T, D, C>(dk, dv, q, k, v, dout, lse, Dvec, scale, w);
    else __trap();
}

#endif
