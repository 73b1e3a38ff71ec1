/* Exports of a fine-tuned model in the formats the rest of the ecosystem loads (DESIGN.md
 * "Files a run writes"): a PEFT LoRA adapter directory (peft's PeftModel.from_pretrained) and a
 * merged Hugging Face model directory (transformers' from_pretrained). Trained values come from
 * the fp32 master buffer; each output directory appears whole or not at all (an old one stays
 * intact when an export fails). The import side is wf_trainable_load_peft (trainable.h).
 * Facts: shared/reference/FORMATS.md "PEFT adapter directory", "HF config.json and tensor names";
 * MATH.md "Merge for export". */
#ifndef WEFT_EXPORT_H
#define WEFT_EXPORT_H

#include "weft/trainable.h"

/* Writes dir/adapter_config.json and dir/adapter_model.safetensors for a LoRA or IA3 trainable
 * set (a composed spec, trainable.h wf_peft_composed: see the end of this comment). IA3: peft_type IA3, "base_model.model.<module path>.ia3_l" tensors (out, 1), feed-forward
 * (1, in), GPT-2's c_attn one (3C, 1); target_modules / feedforward_modules as resolved (PEFT's
 * defaults for the model type when the spec names none). LoRA:
 * tensors "base_model.model.<module path>.lora_A.weight" (r, in) / ".lora_B.weight" (out, r)
 * in F32 (GPT-2's fused c_attn has one adapter, B (3C, r)), plus the trained task head as
 * modules_to_save. task_type follows the model head (CAUSAL_LM, SEQ_CLS, none otherwise);
 * fan_in_fan_out is true for GPT-2 (Conv1D); "all-linear" in spec->targets is written as the
 * list of adapted module paths, because PEFT's "all-linear" also takes linears weft leaves alone
 * (BERT's pooler). base_model_path (may be NULL) becomes base_model_name_or_path.
 * Prompt tuning: PROMPT_TUNING config and the unprefixed tensor "prompt_embeddings" (Nv, C).
 * Houlsby adapters (peft has none) in weft's own format: dir/weft_adapter.json ("format":
 * "weft-houlsby-adapter", format_version 1, adapter_size, hidden_size, num_layers,
 * nonlinearity "gelu", placement, base_model_name_or_path, modules_to_save) and
 * dir/adapter_model.safetensors with F32 tensors "<block>.adapter_<attn|mlp>.<down|up>.<weight|bias>"
 * (down (m, C), up (C, m), biases (m), (C); <block> e.g. "model.layers.3", "transformer.h.3",
 * "bert.encoder.layer.3") plus the trained head under its HF name; wf_trainable_load_peft
 * reads it back.
 * A trainable set without LoRA, IA3, a soft prompt or adapters is an error (export a merged
 * model instead).
 * Composed methods: dir/weft_adapter.json ("format": "weft-composed-adapter", format_version 1,
 * base_model_name_or_path, "methods" (method names in enum order), "lora" {r, lora_alpha,
 * use_rslora, use_dora, target_modules (exact module paths)}, adapter_size, num_virtual_tokens,
 * train_top_layers (each when its method is on), num_layers, hidden_size, "tensors" (every name))
 * and dir/adapter_model.safetensors with every trained tensor in F32 under its weft name
 * (wf_param.name: PEFT names without "base_model.model.", the soft prompt "prompt_embeddings",
 * Houlsby and base weights as above / as in the HF checkpoint); wf_trainable_load_peft reads it
 * back. Beside them the PEFT-loadable parts: dir/peft-lora/ (a LoRA adapter as above with the
 * LoRA tensors, target_modules the exact adapted paths, and the classification head) when LoRA
 * is on, dir/peft-prompt/ (PROMPT_TUNING with the soft prompt and the head) when prompt tuning
 * is; each alone reproduces only its part of the run. */
wf_status wf_export_peft(const wf_model *m, const wf_trainable *t, const wf_peft_spec *spec,
                         const char *base_model_path, const char *dir);

/* Writes dir/model.safetensors with every weight under its HF checkpoint name and in HF layout
 * (GPT-2 Conv1D back to [in, out] with c_attn re-fused to [C, 3C] / [3C], ViT tensors back to
 * [1, 1, C] / [1, S, C] / [C, ch, P, P], a tied LM head not written), LoRA merged in as
 * W' = W + scale * B A and IA3 as W' = diag(l) W, b' = l * b (feed-forward: W' = W diag(l)),
 * in the model's dtype (bf16 / fp16 / fp32); then config.json (the
 * source's, its "dtype" set to what was written; for a GGUF source one generated from the
 * architecture, LlamaConfig / Qwen2Config style) and the tokenizer files the source directory
 * has. t may be NULL (the model as loaded; e.g. a GGUF model converted to HF). The file is
 * streamed: host memory holds a few copies of the largest tensor, not the model. */
wf_status wf_export_merged(const wf_model *m, const wf_trainable *t, const char *src_model_path,
                           const char *dir);

#endif
