/* The run-config schema: every key a training config may hold, with its default, range, unit and
 * doc line. Loading, validation, the resolved config.json and configs/README.md are all driven by
 * this table (run_config.c, run_config_doc.c); adding a key is adding a row here and a field in
 * include/weft/run_config.h. Defaults are JSON text, checked by the same code as user values. */
#include "run_config_schema.h"

#include <stddef.h>
#include <stdio.h>

#include "weft/run_config.h"

#define F(f) .offset = offsetof(wf_run_config, f), .size = sizeof(((wf_run_config *)0)->f)
#define REQ .flags = WF_CFG_REQUIRED
#define GE(x) .flags = WF_CFG_HAS_LO, .lo = (x)
#define GT(x) .flags = WF_CFG_HAS_LO | WF_CFG_LO_OPEN, .lo = (x)
#define IN(a, b) .flags = WF_CFG_HAS_LO | WF_CFG_HAS_HI, .lo = (a), .hi = (b)
#define IN_HO(a, b) .flags = WF_CFG_HAS_LO | WF_CFG_HAS_HI | WF_CFG_HI_OPEN, .lo = (a), .hi = (b)

/* The enum name lists are in the order of the C enums in run_config.h. */
static const char *const k_dtype[] = {"fp32", "bf16", "fp16", NULL};
static const char *const k_head[] = {"auto", "lm", "seq_cls", "regression", "image_cls", NULL};
static const char *const k_init[] = {"checkpoint", "random", NULL};
static const char *const k_format[] = {"auto",    "text",           "prompt_completion",
                                       "messages", "alpaca",        "classification",
                                       "regression", "idx",         NULL};
static const char *const k_chat[] = {"auto", "chatml", "llama3", "alpaca", NULL};
static const char *const k_bad[] = {"error", "skip", NULL};
static const char *const k_method[] = {"full", "lora", "freeze", "bitfit", "ia3", "prompt_tuning", "adapter", NULL};
static const char *const k_prompt_init[] = {"random", "text", NULL};
static const char *const k_sched[] = {"constant", "linear", "cosine", NULL};
static const char *const k_mode[] = {"min", "max", NULL};
static const char *const k_backend[] = {"auto", "cpu", "cuda", NULL};

const wf_cfg_section wf_cfg_sections[] = {
    {"model", "The pretrained model and the precision it computes in."},
    {"data", "Training and evaluation data, and how records become token rows."},
    {"method", "What trains: every weight, LoRA adapters, IA3 vectors, biases, a soft prompt, Houlsby "
               "adapters, or the top layers only; `method.extras` combines several in one run."},
    {"method.lora", "LoRA adapters (Hu et al. 2021), used when `method.type` is `lora` or `method.extras` lists it."},
    {"method.ia3", "IA3 vectors (Liu et al. 2022, as PEFT's IA3), used when `method.type` is `ia3` or `method.extras` lists it: "
                   "a learned vector scales each target layer's output, or its input for "
                   "feed-forward modules; the vectors start at 1."},
    {"method.prompt_tuning", "Prompt tuning (Lester et al. 2021, as PEFT's PROMPT_TUNING; LM and sequence heads): "
                             "trained virtual-token embeddings before every row, used when "
                             "`method.type` is `prompt_tuning` or `method.extras` lists it; needs `data.packing` false."},
    {"method.adapter", "Houlsby adapters (Houlsby et al. 2019), used when `method.type` is `adapter` or `method.extras` lists it: "
                       "h + up(gelu(down(h))) after every block's attention output projection and "
                       "MLP, before the residual add; up starts at zero. Exported in weft's own "
                       "format (peft has no such adapter)."},
    {"method.freeze", "Partial fine-tuning, used when `method.type` is `freeze` or `method.extras` lists it."},
    {"train", "Optimizer (AdamW), learning-rate schedule and batch shape."},
    {"train.loss_scale", "Dynamic loss scaling for `model.dtype` `fp16` (as torch.cuda.amp."
                         "GradScaler): a step whose gradients overflow is skipped and the scale "
                         "backs off; after `growth_interval` clean steps it grows. Unused otherwise."},
    {"eval", "Evaluation during training, and early stopping."},
    {"eval.early_stopping", "Stop when an eval metric stops improving."},
    {"checkpoint", "Periodic checkpoints (for --resume) in `<output.dir>/checkpoints/`."},
    {"output", "Where the run writes its files, and how often it logs."},
    {"backend", "The device that runs the ops."},
    {"dist", "Data parallelism: ranks, ZeRO-1, fault timeout. Multi-GPU runs are started by "
             "`weft launch --gpus`, multi-node runs by srun / mpirun (README \"Multi-GPU and "
             "multi-node\", docs/distributed.md)."},
};
const int64_t wf_cfg_nsections = sizeof wf_cfg_sections / sizeof wf_cfg_sections[0];

const wf_cfg_key wf_cfg_keys[] = {
    {.path = "model.path", .type = WF_CFG_STRING, F(model.path), REQ,
     .doc = "Hugging Face model directory or .gguf file", .aliases = "model_name_or_path model"},
    {.path = "model.dtype", .type = WF_CFG_ENUM, F(model.dtype), .def = "\"fp32\"",
     .values = k_dtype, .doc = "compute precision (master weights stay fp32); bf16 and fp16 need the cuda "
     "backend (an error on the CPU, which computes in fp32 only)",
     .aliases = "precision torch_dtype"},
    {.path = "model.head", .type = WF_CFG_ENUM, F(model.head), .def = "\"auto\"", .values = k_head,
     .doc = "task head; auto: from the model's config.json architectures"},
    {.path = "model.num_labels", .type = WF_CFG_INT, F(model.num_labels), .def = "0", GE(0),
     .unit = "classes", .doc = "classifier outputs; 0: from the model's config.json",
     .aliases = "labels n_labels"},
    {.path = "model.init", .type = WF_CFG_ENUM, F(model.init), .def = "\"checkpoint\"",
     .values = k_init,
     .doc = "checkpoint: weights from the model's safetensors; random: config.json alone, "
            "matrices N(0, initializer_range), biases 0, norm gains 1, seeded by `train.seed`",
     .aliases = "init_weights from_scratch"},

    {.path = "data.train", .type = WF_CFG_STRING, F(data.train), REQ,
     .doc = "training data: a JSONL or IDX file", .aliases = "train_file train_data"},
    {.path = "data.eval", .type = WF_CFG_STRING, F(data.eval), .def = "\"\"",
     .doc = "evaluation data; \"\": split off the training data by `data.eval_split`",
     .aliases = "eval_file validation_file eval_data"},
    {.path = "data.format", .type = WF_CFG_ENUM, F(data.format), .def = "\"auto\"",
     .values = k_format, .doc = "record layout; auto: from the first record's keys"},
    {.path = "data.eval_split", .type = WF_CFG_FLOAT, F(data.eval_split), .def = "0.1",
     IN(0, 0.5), .unit = "fraction", .doc = "share of training records held out for eval",
     .aliases = "validation_split val_split"},
    {.path = "data.seq_len", .type = WF_CFG_INT, F(data.seq_len), .def = "512", GE(8),
     .unit = "tokens", .doc = "tokens per row; longer records are truncated",
     .aliases = "max_seq_length max_length seq_length block_size context_length"},
    {.path = "data.packing", .type = WF_CFG_BOOL, F(data.packing), .def = "true",
     .doc = "pack several records into a row (no attention across them)", .aliases = "pack"},
    {.path = "data.chat_template", .type = WF_CFG_ENUM, F(data.chat_template), .def = "\"auto\"",
     .values = k_chat, .doc = "template for `messages` records; auto: the model's own"},
    {.path = "data.bad_lines", .type = WF_CFG_ENUM, F(data.bad_lines), .def = "\"error\"",
     .values = k_bad, .doc = "a malformed record stops the run, or is skipped and counted"},
    {.path = "data.shuffle", .type = WF_CFG_BOOL, F(data.shuffle), .def = "true",
     .doc = "shuffle rows each epoch (seeded by `train.seed`)"},
    {.path = "data.cache", .type = WF_CFG_BOOL, F(data.cache), .def = "true",
     .doc = "keep the tokenized data in a cache file next to the data"},

    {.path = "method.type", .type = WF_CFG_ENUM, F(method.type), .def = "\"lora\"",
     .values = k_method, .doc = "full: every weight trains; lora: adapters; freeze: top layers and/or named modules; bitfit: only biases (and a task head); ia3: IA3 vectors (and a task head); prompt_tuning: a soft prompt; adapter: Houlsby adapters (and a task head)",
     .aliases = "peft_type"},
    {.path = "method.extras", .type = WF_CFG_STRLIST, F(method.extras), .def = "[]",
     .values = k_method,
     .doc = "further methods trained together with `method.type`, each configured by its own "
            "section: any of lora, freeze, bitfit, ia3, prompt_tuning, adapter (not full; not lora "
            "with ia3). A weight trains when any method trains it; with freeze, LoRA skips the "
            "base weights that train fully. E.g. type lora, extras [\"adapter\", \"prompt_tuning\", "
            "\"bitfit\"]",
     .aliases = "methods compose"},
    {.path = "method.lora.r", .type = WF_CFG_INT, F(method.lora.r), .def = "8", GE(1),
     .unit = "rank", .doc = "rank of each adapter (A: r x in, B: out x r)",
     .aliases = "rank lora_r"},
    {.path = "method.lora.alpha", .type = WF_CFG_FLOAT, F(method.lora.alpha), .def = "16",
     GT(0), .doc = "scale numerator: the update is (alpha / r) B A", .aliases = "lora_alpha"},
    {.path = "method.lora.dropout", .type = WF_CFG_FLOAT, F(method.lora.dropout), .def = "0.05",
     IN_HO(0, 1), .unit = "probability", .doc = "dropout on the adapter's input",
     .aliases = "lora_dropout"},
    {.path = "method.lora.target_modules", .type = WF_CFG_STRLIST,
     F(method.lora.target_modules), .def = "[\"q_proj\", \"v_proj\"]", GE(1),
     .solo = "all-linear",
     .doc = "linear layers that get adapters (HF names), or \"all-linear\"",
     .aliases = "targets target_module lora_target_modules"},
    {.path = "method.lora.rslora", .type = WF_CFG_BOOL, F(method.lora.rslora), .def = "false",
     .doc = "rank-stabilized scale alpha / sqrt(r) (Kalajdzievski 2023)",
     .aliases = "use_rslora"},
    {.path = "method.lora.use_dora", .type = WF_CFG_BOOL, F(method.lora.use_dora), .def = "false",
     .doc = "DoRA (Liu et al. 2024, as peft's use_dora): a trained magnitude per output row times the "
            "direction W + (alpha / r) B A, its norm held constant in the backward; needs "
            "`method.lora.dropout` 0", .aliases = "dora"},
    {.path = "method.lora.init_from", .type = WF_CFG_STRING, F(method.lora.init_from), .def = "\"\"",
     .doc = "start from this PEFT adapter (a directory with adapter_model.safetensors, e.g. a "
            "run's adapter/) instead of a fresh init; its r and targets must match",
     .aliases = "adapter resume_adapter"},
    {.path = "method.ia3.target_modules", .type = WF_CFG_STRLIST, F(method.ia3.target_modules),
     .def = "[\"auto\"]", GE(1), .solo = "auto",
     .doc = "linear layers that get a vector (HF names, matched as PEFT matches them); \"auto\": "
            "PEFT's default for the model type (llama/mistral: k_proj, v_proj, down_proj; qwen2: "
            "q_proj, v_proj, down_proj; gpt2: c_attn, mlp.c_proj; bert: key, value, output.dense)",
     .aliases = "ia3_target_modules"},
    {.path = "method.ia3.feedforward_modules", .type = WF_CFG_STRLIST,
     F(method.ia3.feedforward_modules), .def = "[\"auto\"]", .solo = "auto",
     .doc = "targets whose input (not output) is scaled: a module whose name ends with one of these; "
            "a subset of `method.ia3.target_modules` when both are listed; \"auto\": PEFT's default "
            "for the model type (down_proj, mlp.c_proj, output.dense)",
     .aliases = "ia3_feedforward_modules feedforward"},
    {.path = "method.prompt_tuning.num_virtual_tokens", .type = WF_CFG_INT,
     F(method.prompt_tuning.num_virtual_tokens), .def = "20", IN(1, 4096), .unit = "tokens",
     .doc = "virtual tokens prepended to every row (the row grows by this many positions)",
     .aliases = "num_virtual_tokens virtual_tokens"},
    {.path = "method.prompt_tuning.init", .type = WF_CFG_ENUM, F(method.prompt_tuning.init),
     .def = "\"random\"", .values = k_prompt_init,
     .doc = "random: N(0, 1) (PEFT's RANDOM); text: the embeddings of `init_text`'s tokens, "
            "repeated and cut to the number of virtual tokens (PEFT's TEXT)",
     .aliases = "prompt_tuning_init"},
    {.path = "method.prompt_tuning.init_text", .type = WF_CFG_STRING,
     F(method.prompt_tuning.init_text), .def = "\"\"",
     .doc = "text for the text init (tokenized as the tokenizer's __call__, special tokens added)",
     .aliases = "prompt_tuning_init_text"},
    {.path = "method.adapter.size", .type = WF_CFG_INT, F(method.adapter.size), .def = "64", GE(1),
     .unit = "features", .doc = "bottleneck width m of each adapter (down: C -> m, up: m -> C)",
     .aliases = "adapter_size bottleneck reduction"},
    {.path = "method.freeze.train_top_layers", .type = WF_CFG_INT,
     F(method.freeze.train_top_layers), .def = "0", GE(0), .unit = "layers",
     .doc = "train the last N transformer layers (with the final norm and an untied LM head); "
            "0: no whole layers (then method.freeze.modules must name what trains)",
     .aliases = "top_layers trainable_layers"},
    {.path = "method.freeze.modules", .type = WF_CFG_STRLIST, F(method.freeze.modules),
     .def = "[]", .doc = "weights that train in addition to the top layers: every weight whose "
     "full name contains one of these substrings (e.g. \"mlp.down_proj\"); everything else stays frozen",
     .aliases = "trainable_modules modules_to_save"},

    {.path = "train.epochs", .type = WF_CFG_FLOAT, F(train.epochs), .def = "1", GT(0),
     .unit = "epochs", .doc = "passes over the training data (fractions allowed)",
     .aliases = "num_train_epochs num_epochs epoch"},
    {.path = "train.max_steps", .type = WF_CFG_INT, F(train.max_steps), .def = "-1", GE(-1),
     .unit = "steps", .doc = "optimizer steps; -1: from `train.epochs`", .aliases = "steps"},
    {.path = "train.micro_batch", .type = WF_CFG_INT, F(train.micro_batch), .def = "4", GE(1),
     .unit = "rows", .doc = "rows per forward/backward pass (per rank)",
     .aliases = "batch_size micro_batch_size per_device_train_batch_size"},
    {.path = "train.grad_accum", .type = WF_CFG_INT, F(train.grad_accum), .def = "1", GE(1),
     .unit = "micro-batches", .doc = "micro-batches summed into one optimizer step",
     .aliases = "gradient_accumulation_steps gradient_accumulation accum_steps"},
    {.path = "train.lr", .type = WF_CFG_FLOAT, F(train.lr), .def = "2e-4", GT(0),
     .doc = "peak learning rate (reached after warmup)", .aliases = "learning_rate"},
    {.path = "train.schedule", .type = WF_CFG_ENUM, F(train.schedule), .def = "\"cosine\"",
     .values = k_sched, .doc = "learning-rate decay after warmup, down to `train.min_lr`",
     .aliases = "lr_scheduler_type scheduler lr_schedule"},
    {.path = "train.warmup_steps", .type = WF_CFG_INT, F(train.warmup_steps), .def = "0", GE(0),
     .unit = "steps", .doc = "linear warmup from 0 to `train.lr`", .aliases = "warmup"},
    {.path = "train.min_lr", .type = WF_CFG_FLOAT, F(train.min_lr), .def = "0", GE(0),
     .doc = "learning rate at the end of the decay (at most `train.lr`)"},
    {.path = "train.weight_decay", .type = WF_CFG_FLOAT, F(train.weight_decay), .def = "0",
     GE(0), .doc = "AdamW decoupled weight decay", .aliases = "wd decay"},
    {.path = "train.betas", .type = WF_CFG_FLOATPAIR, F(train.betas), .def = "[0.9, 0.999]",
     IN_HO(0, 1), .doc = "AdamW moment decay rates [beta1, beta2]",
     .aliases = "adam_betas beta"},
    {.path = "train.eps", .type = WF_CFG_FLOAT, F(train.eps), .def = "1e-8", GT(0),
     .doc = "AdamW denominator epsilon", .aliases = "adam_epsilon epsilon"},
    {.path = "train.max_grad_norm", .type = WF_CFG_FLOAT, F(train.max_grad_norm), .def = "1",
     GE(0), .doc = "clip the global gradient L2 norm to this; 0: no clipping",
     .aliases = "grad_clip clip_grad_norm gradient_clipping"},
    {.path = "train.no_decay", .type = WF_CFG_STRLIST, F(train.no_decay),
     .def = "[\"bias\", \"norm\", \"embedding\"]",
     .doc = "weights whose names contain one of these get no weight decay"},
    {.path = "train.seed", .type = WF_CFG_INT, F(train.seed), .def = "42", GE(0),
     .doc = "seed for initialization, dropout and shuffling", .aliases = "random_seed"},
    {.path = "train.activation_checkpointing", .type = WF_CFG_BOOL,
     F(train.activation_checkpointing), .def = "false",
     .doc = "keep only each block's output and recompute the rest of the block in the backward: "
     "activation memory falls to the outputs plus one block's, for one more forward of every "
     "block but the last; the same gradients, bit for bit (--dry-run shows the plan)",
     .aliases = "gradient_checkpointing recompute activation_recomputation"},
    {.path = "train.loss_scale.init_scale", .type = WF_CFG_FLOAT, F(train.loss_scale.init_scale),
     .def = "65536", IN(1, 1e30), .doc = "the loss scale S of the first step (2^16)",
     .aliases = "init_scale loss_scale"},
    {.path = "train.loss_scale.growth_factor", .type = WF_CFG_FLOAT,
     F(train.loss_scale.growth_factor), .def = "2", IN(1.0001, 1e6),
     .doc = "S is multiplied by this after `growth_interval` clean steps", .aliases = "growth"},
    {.path = "train.loss_scale.backoff_factor", .type = WF_CFG_FLOAT,
     F(train.loss_scale.backoff_factor), .def = "0.5", IN_HO(1e-6, 1),
     .doc = "S is multiplied by this when a step's gradients are not finite (the step is skipped)",
     .aliases = "backoff"},
    {.path = "train.loss_scale.growth_interval", .type = WF_CFG_INT,
     F(train.loss_scale.growth_interval), .def = "2000", IN(1, 2147483647), .unit = "steps",
     .doc = "clean steps in a row before S grows", .aliases = "interval"},

    {.path = "eval.every_steps", .type = WF_CFG_INT, F(eval.every_steps), .def = "0", GE(0),
     .unit = "steps", .doc = "evaluate every N optimizer steps; 0: at the end of each epoch",
     .aliases = "eval_steps every interval"},
    {.path = "eval.before_training", .type = WF_CFG_BOOL, F(eval.before_training),
     .def = "true", .doc = "evaluate once before the first step (step 0)"},
    {.path = "eval.max_batches", .type = WF_CFG_INT, F(eval.max_batches), .def = "0", GE(0),
     .unit = "batches", .doc = "cap on batches per evaluation; 0: the whole eval set"},
    {.path = "eval.early_stopping.metric", .type = WF_CFG_STRING,
     F(eval.early_stopping.metric), .def = "\"\"",
     .doc = "eval metric to watch (e.g. \"loss\"); \"\": no early stopping",
     .aliases = "metric_for_best_model"},
    {.path = "eval.early_stopping.patience", .type = WF_CFG_INT,
     F(eval.early_stopping.patience), .def = "3", GE(1), .unit = "evaluations",
     .doc = "stop after this many evaluations without improvement",
     .aliases = "early_stopping_patience"},
    {.path = "eval.early_stopping.mode", .type = WF_CFG_ENUM, F(eval.early_stopping.mode),
     .def = "\"min\"", .values = k_mode, .doc = "whether lower or higher metric values are better",
     .aliases = "greater_is_better"},

    {.path = "checkpoint.every_steps", .type = WF_CFG_INT, F(checkpoint.every_steps),
     .def = "0", GE(0), .unit = "steps", .doc = "save a checkpoint every N steps; 0: off",
     .aliases = "save_steps every interval"},
    {.path = "checkpoint.keep_last", .type = WF_CFG_INT, F(checkpoint.keep_last), .def = "2",
     GE(1), .unit = "checkpoints", .doc = "older checkpoints are deleted",
     .aliases = "save_total_limit keep"},

    {.path = "output.dir", .type = WF_CFG_STRING, F(output.dir), .def = "\"\"",
     .doc_default = "runs/<config file stem>",
     .doc = "run directory (config.json, metrics.jsonl, events, checkpoints)",
     .aliases = "output_dir dir run_dir"},
    {.path = "output.tensorboard", .type = WF_CFG_BOOL, F(output.tensorboard), .def = "true",
     .doc = "write TensorBoard event files into the run directory"},
    {.path = "output.log_every", .type = WF_CFG_INT, F(output.log_every), .def = "1", GE(1),
     .unit = "steps", .doc = "log train metrics every N steps", .aliases = "logging_steps"},
    {.path = "output.export_merged", .type = WF_CFG_BOOL, F(output.export_merged), .def = "false",
     .doc = "also write merged/ (the full model with the adapter merged in, safetensors + "
            "config.json + tokenizer files) at the end; the LoRA adapter/ is always written",
     .aliases = "merge merged save_merged"},
    {.path = "output.overwrite", .type = WF_CFG_BOOL, F(output.overwrite), .def = "false",
     .doc = "a fresh run (no --resume) in an output.dir that holds an earlier run deletes that "
     "run's files first (config.json, metrics.jsonl, events, checkpoints/, adapter/, merged/, "
     "profile.md); false: such a directory is an error, so that no run is lost by accident",
     .aliases = "overwrite_output_dir"},
    {.path = "output.profile_steps", .type = WF_CFG_INT, F(output.profile_steps), .def = "0",
     IN(0, 1000000), .unit = "steps", .doc = "time every op (forward, backward, optimizer) of this "
     "many optimizer steps, from the second (the first pays one-time costs); writes profile.md "
     "(op, calls, total ms, share) into the run directory and prints it; adds two event records "
     "an op to the profiled steps; 0: off", .aliases = "profile profiler"},

    {.path = "backend.name", .type = WF_CFG_ENUM, F(backend.name), .def = "\"auto\"",
     .values = k_backend, .doc = "auto: cuda when a GPU is present, else cpu",
     .aliases = "device_type"},
    {.path = "backend.device", .type = WF_CFG_INT, F(backend.device), .def = "0", GE(0),
     .unit = "index", .doc = "GPU index (single-process runs)", .aliases = "gpu cuda_device"},
    {.path = "backend.threads", .type = WF_CFG_INT, F(backend.threads), .def = "0", GE(0),
     .unit = "threads", .doc = "CPU threads; 0: all cores", .aliases = "num_threads"},

    {.path = "dist.cpu_ranks", .type = WF_CFG_INT, F(dist.cpu_ranks), .def = "1", IN(1, 64),
     .unit = "ranks", .doc = "data-parallel ranks as threads of one process over the CPU "
     "communicator (backend cpu; `weft launch --cpu-ranks N` sets it); 1: a single rank",
     .aliases = "ranks world_size"},
    {.path = "dist.zero_stage", .type = WF_CFG_INT, F(dist.zero_stage), .def = "0", IN(0, 1),
     .unit = "stage", .doc = "0: every rank holds all AdamW state and runs the whole update; 1: "
     "ZeRO-1, each rank keeps the AdamW moments of its shard of the weights only, updates that "
     "shard and gathers the rest", .aliases = "zero"},
    {.path = "dist.bucket_mb", .type = WF_CFG_FLOAT, F(dist.bucket_mb), .def = "25", IN(0, 65536),
     .unit = "MiB", .doc = "the fp32 gradient is all-reduced (ZeRO-1: reduce-scattered) in buckets "
     "of about this size, each as soon as the backward of the step's last micro-batch has finished "
     "it (NCCL: on a communication stream, overlapping the rest of the backward); 0: one "
     "all-reduce (reduce-scatter) after the backward",
     .aliases = "bucket_cap_mb bucket_size"},
    {.path = "dist.timeout_s", .type = WF_CFG_FLOAT, F(dist.timeout_s), .def = "300", GT(0),
     .unit = "s", .doc = "a collective that waits longer for a rank fails: CPU ranks name the missing "
     "rank; over NCCL the rank monitor names the ranks that had not entered the collective, left or "
     "went silent",
     .aliases = "timeout nccl_timeout"},
};
const int64_t wf_cfg_nkeys = sizeof wf_cfg_keys / sizeof wf_cfg_keys[0];

void wf_cfg_range_text(const wf_cfg_key *k, char *buf, size_t cap) {
    unsigned f = k->flags;
    if ((f & WF_CFG_HAS_LO) && (f & WF_CFG_HAS_HI))
        snprintf(buf, cap, "%c%g, %g%c", (f & WF_CFG_LO_OPEN) ? '(' : '[', k->lo, k->hi,
                 (f & WF_CFG_HI_OPEN) ? ')' : ']');
    else if (f & WF_CFG_HAS_LO)
        snprintf(buf, cap, "%s %g", (f & WF_CFG_LO_OPEN) ? ">" : ">=", k->lo);
    else if (f & WF_CFG_HAS_HI)
        snprintf(buf, cap, "%s %g", (f & WF_CFG_HI_OPEN) ? "<" : "<=", k->hi);
    else
        buf[0] = 0;
}
