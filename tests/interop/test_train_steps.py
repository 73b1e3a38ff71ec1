"""Training interop: 20 optimizer steps of weft and of transformers + peft + torch.optim.AdamW
from the same weights, the same LoRA A/B and the same batches give the same per-step losses and
the same final weights, in fp32.

Each step accumulates two micro-batches with different numbers of loss tokens; the loss is the
mean over all tokens of the step (sum / total), not the mean of per-micro-batch means. AdamW
(weight decay 0.01), clipping at global norm 1.0, linear warmup + decay.

Tolerances: per-step loss within 2e-5 relative, final weights within 2e-4 of each tensor's scale
(plus 1e-3 of the learning rate absolute). Both sides run fp32 with different summation orders;
differences start at ~1e-7 and AdamW's normalized updates carry them through 20 steps (observed
~1e-6 relative on the losses). A wrong optimizer, clip, schedule or accumulation rule shows at
the first or second step as an O(1e-2) difference.

usage: test_train_steps.py TRAIN_STEPS_TOOL
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import transformers as tf
from safetensors.numpy import load_file

TOOL = sys.argv[1]
STEPS, B, T, LR, WD, CLIP, WARMUP = 20, 2, 10, 5e-3, 0.01, 1.0, 3
failures = []


def batches(vocab, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (2, B, T), generator=g)
    targets = torch.full((2, B, T), -100, dtype=torch.long)
    targets[:, :, :-1] = ids[:, :, 1:]
    targets[1, 0, :6] = -100  # micro-batch 2 has fewer loss tokens
    return ids, targets


def torch_train_cls(model, params, ids, mask, labels):
    opt = torch.optim.AdamW(params, lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=WD)
    sched = tf.get_linear_schedule_with_warmup(opt, WARMUP, STEPS)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        step_loss = 0.0
        for k in range(2):
            logits = model(input_ids=ids[k], attention_mask=mask[k],
                           token_type_ids=torch.zeros_like(ids[k])).logits
            loss = torch.nn.functional.cross_entropy(logits, labels[k], reduction="sum") / (2 * B)
            loss.backward()
            step_loss += loss.item()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        sched.step()
        losses.append(step_loss)
    return losses


def torch_train(model, params, ids, targets):
    opt = torch.optim.AdamW(params, lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=WD)
    sched = tf.get_linear_schedule_with_warmup(opt, WARMUP, STEPS)
    total = int((targets != -100).sum())
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        step_loss = 0.0
        for k in range(2):
            logits = model(input_ids=ids[k]).logits
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                     targets[k].reshape(-1), ignore_index=-100,
                                                     reduction="sum") / total
            loss.backward()
            step_loss += loss.item()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        sched.step()
        losses.append(step_loss)
    return losses


def weft_train(tmp, model_dir, inputs, extra):
    out = os.path.join(tmp, "final.safetensors")
    args = [TOOL, model_dir, str(B), str(T), str(STEPS), out, "--micro", "2", "--lr", str(LR),
            "--wd", str(WD), "--clip", str(CLIP), "--warmup", str(WARMUP), "--schedule", "linear"]
    for name, arr in inputs.items():
        path = os.path.join(tmp, name)
        arr.numpy().astype(np.int32).tofile(path)
        args += [f"--{name}", path]
    args += extra
    res = subprocess.run(args, check=True, capture_output=True, text=True)
    losses = [float(line.split()[1]) for line in res.stdout.strip().splitlines()]
    return losses, load_file(out)


def compare(case, got_losses, want_losses, got_w, want_w):
    ok = True
    for s, (g, w) in enumerate(zip(got_losses, want_losses)):
        if abs(g - w) > 2e-5 * max(1.0, abs(w)):
            print(f"FAIL {case}: step {s} loss weft {g:.7g} torch {w:.7g}")
            ok = False
            break
    worst = (0.0, "")
    for name, w in want_w.items():
        g = got_w.get(name)
        if g is None:
            print(f"FAIL {case}: weft has no tensor {name}")
            ok = False
            continue
        err = np.abs(g - w).max()
        allowed = 2e-4 * np.abs(w).max() + 1e-3 * LR
        worst = max(worst, (err / allowed, name))
        if err > allowed:
            print(f"FAIL {case}: {name} max |diff| {err:.3g} > {allowed:.3g}")
            ok = False
    print(f"{'ok  ' if ok else 'FAIL'} {case}: losses {got_losses[0]:.5f} -> {got_losses[-1]:.5f} "
          f"(torch {want_losses[0]:.5f} -> {want_losses[-1]:.5f}), {len(want_w)} tensors, worst "
          f"{worst[0]:.2f} of allowed ({worst[1]})")
    if not ok:
        failures.append(case)


def tiny_llama():
    return tf.LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, initializer_range=0.1)


def lora_case(tmp):
    from peft import LoraConfig, get_peft_model
    torch.manual_seed(0)
    base = tf.LlamaForCausalLM(tiny_llama())
    d = os.path.join(tmp, "lora-base")
    base.save_pretrained(d, safe_serialization=True)
    targets_list = ["q_proj", "v_proj", "up_proj"]
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=targets_list, lora_dropout=0.0))
    ad = os.path.join(tmp, "adapter-init")
    model.save_pretrained(ad)  # PEFT's own init: A kaiming-uniform, B = 0
    ids, targets = batches(128, 1)
    params = [p for p in model.parameters() if p.requires_grad]
    want_losses = torch_train(model, params, ids, targets)
    want_w = {n.replace("base_model.model.", "").replace(".default", ""): p.detach().numpy()
              for n, p in model.named_parameters() if p.requires_grad}
    got_losses, got_w = weft_train(tmp, d, {"ids": ids, "targets": targets},
                                   ["--lora", "4", "8", ",".join(targets_list), "--peft", ad])
    compare("llama lora r=4 (q, v, up)", got_losses, want_losses, got_w, want_w)


def full_case(tmp):
    torch.manual_seed(1)
    model = tf.LlamaForCausalLM(tiny_llama())
    d = os.path.join(tmp, "full-base")
    model.save_pretrained(d, safe_serialization=True)
    ids, targets = batches(128, 2)
    params = list(model.parameters())
    want_losses = torch_train(model, params, ids, targets)
    want_w = {n: p.detach().numpy() for n, p in model.named_parameters()}
    got_losses, got_w = weft_train(tmp, d, {"ids": ids, "targets": targets}, [])
    compare("llama full fine-tuning", got_losses, want_losses, got_w, want_w)


def bert_lora_case(tmp):
    """BERT sequence classification: LoRA on query/value plus the classifier (PEFT's
    modules_to_save for SEQ_CLS); the pooler stays frozen on both sides."""
    from peft import LoraConfig, TaskType, get_peft_model
    cfg = tf.BertConfig(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=32, num_labels=3,
                        initializer_range=0.1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(2)
    base = tf.BertForSequenceClassification(cfg)
    d = os.path.join(tmp, "bert-base")
    base.save_pretrained(d, safe_serialization=True)
    model = get_peft_model(base, LoraConfig(task_type=TaskType.SEQ_CLS, r=4, lora_alpha=8,
                                            target_modules=["query", "value"], lora_dropout=0.0))
    ad = os.path.join(tmp, "bert-adapter-init")
    model.save_pretrained(ad)
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(1, 128, (2, B, T), generator=g)
    mask = torch.ones(2, B, T, dtype=torch.long)
    mask[1, 1, 7:] = 0
    labels = torch.tensor([[0, 2], [1, 2]])
    params = [p for p in model.parameters() if p.requires_grad]
    want_losses = torch_train_cls(model, params, ids, mask, labels)
    want_w = {}
    for n, p in model.named_parameters():
        if p.requires_grad:  # modules_to_save copies are named classifier.modules_to_save.default.*
            n = n.replace("base_model.model.", "").replace(".modules_to_save.default", "").replace(".default", "")
            want_w[n] = p.detach().numpy()
    got_losses, got_w = weft_train(tmp, d, {"ids": ids, "mask": mask, "labels": labels},
                                   ["--lora", "4", "8", "query,value", "--peft", ad])
    compare("bert seq-cls lora r=4 (query, value) + classifier", got_losses, want_losses, got_w, want_w)


def main():
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        lora_case(tmp)
        full_case(tmp)
        bert_lora_case(tmp)
    if failures:
        print(f"{len(failures)} case(s) differ: {', '.join(failures)}")
        return 1
    print("training matches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
