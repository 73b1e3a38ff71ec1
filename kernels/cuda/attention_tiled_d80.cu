/* The tiled attention kernels (flash, flash2) for head dim 80: attention_tiled.cuh. */
#include "attention_tiled.cuh"

WF_ATTENTION_TILED_DEFINE(80)
