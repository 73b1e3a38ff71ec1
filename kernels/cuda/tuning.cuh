/* Tuning constants of the CUDA kernels, in one place (STYLE.md: ThunderKittens keeps them visible).
 * Changing one changes speed only, never results: no reduction order depends on these except
 * the column-sum chunking, WF_ROW_BLOCK (row sums of norms and losses) and WF_GN_CHUNK (the
 * gradient norm's partials); those orders depend on these constants and on sizes alone, never on
 * the device or on scheduling, so results stay deterministic. */
#ifndef WEFT_KERNELS_CUDA_TUNING_CUH
#define WEFT_KERNELS_CUDA_TUNING_CUH

/* Elementwise kernels (elementwise.cuh, cast.cu, dropout.cu): threads per block, and the cap on
 * the grid of a grid-stride loop: 8 blocks of 256 threads fill an SM's 2048 threads on sm_80-90. */
#define WF_EW_BLOCK 256
#define WF_EW_BLOCKS_PER_SM 8

/* Column sums (colsum.cuh): a block covers WF_COLSUM_TX adjacent columns (one warp, coalesced)
 * with WF_COLSUM_TY row lanes; rows are cut into at most WF_COLSUM_MAX_CHUNKS chunks of at least
 * WF_COLSUM_MIN_ROWS rows, each chunk summed by one block, chunks summed in order afterwards.
 * WF_COLSUM_MAX_CHUNKS must stay <= 65535 (it is gridDim.y). */
#define WF_COLSUM_TX 32
#define WF_COLSUM_TY 8
#define WF_COLSUM_MAX_CHUNKS 128
#define WF_COLSUM_MIN_ROWS 64

/* Row kernels (embedding, norms, cross-entropy): threads per block, one block per row,
 * grid-stride over rows. Norm and loss row sums depend on it (reduce.cuh), so changing it
 * changes their last bits, deterministically. */
#define WF_ROW_BLOCK 256

/* Cross-entropy (cross_entropy.cu): 16-byte groups of logits a thread loads before using them
 * (memory-level parallelism: a 256-row logits chunk gives only ~2 blocks an SM). Speed only:
 * the fold order is the same for any value. */
#define WF_CE_LOADS 4

/* Gradient norm (optim.cu): elements per partial sum. The partials, and so the bits of
 * grad_sumsq, depend on it and on the buffer size only, never on the device. */
#define WF_GN_CHUNK 8192

/* Attention (attention.cu): warps per block, one query (or key) row per warp; the largest head
 * dimension (each lane keeps WF_ATT_MAX_D / 32 fp32 values of its row in registers). Neither
 * changes results: every row's sums run inside one warp in a fixed order. */
#define WF_ATT_WARPS 4
#define WF_ATT_MAX_D 256

/* AdamW (optim.cu): threads per block of the fused step (4 elements per thread per pass). */
#define WF_ADAMW_BLOCK 256

/* Flash attention (attention_flash.cuh): WF_FLASH_WARPS warps per block, each owning 16 query
 * rows (forward, dq) or 16 key rows (dk/dv) of the block's tile; keys (forward, dq) or queries
 * (dk/dv) stream through shared memory WF_FLASH_BN / WF_FLASH_BQ at a time. Rows of the shared
 * tiles are padded by WF_FLASH_PAD elements (16 bytes) so the fragment loads of a quad of lanes
 * hit distinct banks. WF_FLASH_BN and WF_FLASH_BQ set how the sums over keys (queries) are cut
 * into tiles, so they move the last bits of the results; that grouping depends on them and on
 * the sizes alone, never on scheduling (deterministic). mma.cuh's fragment code assumes 16-row
 * warps: WF_FLASH_BN and WF_FLASH_BQ must be multiples of 16. */
#define WF_FLASH_WARPS 4
#define WF_FLASH_BN 64
#define WF_FLASH_BQ 32
#define WF_FLASH_PAD 8

/* LoRA, variant "fused" (lora.cu): the down kernel (h = drop(x) A^T with the mask drawn in
 * place) gives a thread one row of x and WF_LORA_RQ of the r outputs (grid.z covers the rest),
 * WF_LORA_DOWN_BLOCK rows a block; A is staged WF_LORA_KTILE columns at a time in shared memory
 * (fp32), and K is cut into at most WF_LORA_KSPLIT chunks (grid.y, whole tiles each) whose fp32
 * partial sums a second kernel adds in chunk order. The chunking depends on K and these
 * constants only (deterministic); it moves the last bits of h. WF_LORA_KTILE must be a multiple
 * of 4 (one Philox draw covers 4 elements). */
#define WF_LORA_DOWN_BLOCK 128
#define WF_LORA_RQ 16
#define WF_LORA_KTILE 64
#define WF_LORA_KSPLIT 16
/* Its backward kernel (dx and the dA partials in one pass over x): a lane owns 4 adjacent
 * columns, WF_LORA_BWD_WARPS warps a block share WF_LORA_BWD_ROWS rows round-robin and add their
 * dA sums in warp order; the row blocks' partials are added in order by a second kernel (the
 * grouping depends on these constants and the sizes only: deterministic). */
#define WF_LORA_BWD_WARPS 4
#define WF_LORA_BWD_ROWS 128

/* Flash attention, variant flash2 (attention_flash2.cuh; WF_CUDA_ATTENTION=flash2): the same
 * 16 rows a warp and padded rows as above, with tiles loaded by cp.async one tile ahead (double
 * buffers). Warps per block by head dim: WF_FLASH2_WARPS_SMALL for D <= 64 (128 queries a block
 * halve the K/V tile reloads against 64), WF_FLASH2_WARPS_LARGE for D > 64 (its register and
 * shared-memory budget). WF_FLASH2_BN keys a forward/dq tile; WF_FLASH2_BQ_SMALL/_LARGE queries
 * a dk/dv tile. As for flash, the tile sizes set how sums are grouped (last bits), deterministic. */
/* Each may be overridden at build time to sweep them on a GPU without editing this file, e.g.
 * meson setup build-gpu -Dcuda=enabled -Dcuda_args=-DWF_FLASH2_BQ_SMALL=32 (none is measured
 * yet; ptxas sm_90: dk/dv at D = 64 takes 212 registers, one 8-warp block an SM). */
#ifndef WF_FLASH2_WARPS_SMALL
#define WF_FLASH2_WARPS_SMALL 8
#endif
#ifndef WF_FLASH2_WARPS_LARGE
#define WF_FLASH2_WARPS_LARGE 4
#endif
#ifndef WF_FLASH2_BN
#define WF_FLASH2_BN 64
#endif
#ifndef WF_FLASH2_BQ_SMALL
#define WF_FLASH2_BQ_SMALL 64
#endif
#ifndef WF_FLASH2_BQ_LARGE
#define WF_FLASH2_BQ_LARGE 32
#endif

/* Alternative flash2 configurations, picked by name at backend open (WF_FLASH2_CONFIG=<name>;
 * "default" is the one above) so that one GPU run can time them all without rebuilding
 * (bench/bench_kernels_vs_torch.py sweeps them). Instantiated for bf16 at head dims 64 and 128
 * only (issue 7's target shapes), with bodies only on sm_90 and later (attention_flash2.cuh
 * fl2_built): other calls keep the default configuration. Each is deterministic (its tile sizes
 * set the grouping of sums). Columns: name, then warps, BN, BQ for D <= 64, then for D > 64,
 * then the m-tiles a warp owns (16 rows each; attention_flash2.cuh fl2_tiles) in the
 * forward/dq kernels and in the dk/dv kernel for D <= 64, then for D > 64 (1 everywhere but the
 * rows32 configs; the default has 1).
 * Why each, from ptxas -v for sm_90 (64K registers, 228 KiB shared memory an SM; default: D 64
 * forward 128 registers, 2 blocks = 16 warps an SM; dk/dv 214 registers, 1 block = 8 warps;
 * D 128 forward 167 registers, 85 KiB, 2 blocks = 8 warps; dk/dv 244 registers, 8 warps; these
 * and the numbers below as of the per-warp causal skip, 2026-11-29):
 * - flip-warps: the other block height per class. D 64 at 4 warps: twice the blocks, 4 forward
 *   and 3 dk/dv blocks an SM (16, 12 warps), a finer causal tail; D 128 at 8 warps (128 rows)
 *   halves the K/V (Q/dO) tile reloads, as FlashAttention-2's 128-row forward blocks do, at
 *   one block (8 warps) an SM.
 * - keys32: 32-key forward/dq tiles: fewer score registers (D 128: forward 128 registers,
 *   4 blocks = 16 warps an SM; dq 133, 3 blocks), at twice the barriers a key.
 * - half-bq: half the dk/dv query tile: fewer P/dP registers in the kernel with the most (two
 *   fp32 accumulators of the key rows): D 64 dk/dv 128 registers, 2 blocks = 16 warps an SM.
 * - min-regs: both small tiles at 4 warps, the most resident warps (latency hidden by
 *   occupancy rather than by tile size); at D 128 it reuses keys32's forward/dq and half-bq's
 *   dk/dv kernels (attention.cu instantiates each kernel for the sizes it reads only).
 * - rows32: 32 query rows a warp, two m-tiles sharing each K/V fragment load, in 4-warp,
 *   128-query blocks, as FlashAttention-2's forward: shared-memory fragment bytes a 16x8x16
 *   mma fall from 256 + 512 / NT to 128 + 512 / NT (NT = BN / 8); 32-key tiles to fit the two
 *   accumulators (D 64: forward 170 registers, dq 228; D 128: forward 255 with 96 bytes
 *   spilled, dq 255 with 8); dk/dv as flip-warps' at D 64 and half-bq's at D 128.
 * - rows32-kv: rows32 at D 64 plus 32 key rows a warp in dk/dv (BQ 32: 255 registers, 24 bytes
 *   spilled, two 4-warp blocks of 128 keys an SM); at D 128, 16-key forward/dq tiles, the
 *   largest that hold two m-tiles without spilling (forward 228 registers, dq 248).
 * Left out: 128-key tiles (ptxas: D 128 dq at 255 registers with spills, one 4-warp block an
 *   SM; D 64 forward 181 registers, one block). */
#define WF_FLASH2_ALT_CONFIGS(X)                                                                 \
    X("flip-warps", 4, 64, 64, 8, 64, 32, 1, 1, 1, 1)                                            \
    X("keys32", 8, 32, 64, 4, 32, 32, 1, 1, 1, 1)                                                \
    X("half-bq", 8, 64, 32, 4, 64, 16, 1, 1, 1, 1)                                               \
    X("min-regs", 4, 32, 32, 4, 32, 16, 1, 1, 1, 1)                                              \
    X("rows32", 4, 32, 64, 4, 32, 16, 2, 1, 2, 1)                                                \
    X("rows32-kv", 4, 32, 32, 4, 16, 16, 2, 2, 2, 1)

/* cuBLAS / cuBLASLt workspace, allocated once at backend open: NVIDIA recommends 32 MiB on
 * Hopper (4 MiB elsewhere); the larger size serves every architecture we build for. */
#define WF_CUBLAS_WORKSPACE ((size_t)32 << 20)

/* Slots of the cuBLASLt plan cache (linear.cu, one per backend): one per distinct (shape, dtype,
 * alignment) of a biased linear or LoRA-with-bias forward. A model has a handful of linear shapes
 * (GPT-2: 4 base + the LoRA ups), so 64 never evicts in practice; a miss only costs time. */
#define WF_LT_CACHE_SLOTS 64

/* Largest batch count handed to one strided-batched GEMM call (gridDim.z limit of some kernels);
 * bigger batches are split into several calls. */
#define WF_GEMM_MAX_BATCH 65535

#endif
