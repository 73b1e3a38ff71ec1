"""Gradient interop: weft's loss and the gradient of every trainable tensor equal PyTorch
autograd through transformers (and peft for LoRA, DoRA, IA3 and prompt tuning; Houlsby adapters
against a torch module patched into the model) on tiny random models, in fp32. Composed methods
(trainable.h): LoRA + Houlsby + a soft prompt on llama (peft's LoRA, the adapter patched in, the
prompt prepended by hand as peft's prompt tuning does), LoRA or DoRA + BitFit on BERT (peft's LoRA with
bias="all"), LoRA below fully trained top layers (peft's layers_to_transform).

Losses are the mean over loss tokens (PyTorch's CrossEntropyLoss with ignore_index -100, MSE for
regression). Tolerance: |weft - torch| <= 2e-4 * max|torch| per tensor (and 1e-5 relative on the
loss): both sides accumulate in fp32 in different orders through two layers forward and back;
observed differences are ~1e-6 of the tensor's scale. A wrong backward is off by O(1).

usage: test_model_grad.py MODEL_GRAD_TOOL
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
TOL = 2e-4
failures = []


def write(tmp, name, arr, dt):
    path = os.path.join(tmp, name)
    np.ascontiguousarray(arr, dtype=dt).tofile(path)
    return path


def run_weft(tmp, model_dir, B, T, inputs, extra=()):
    out = os.path.join(tmp, "grads.safetensors")
    args = [TOOL, model_dir, str(B), str(T), out]
    for flag, (arr, dt) in inputs.items():
        args += [f"--{flag}", write(tmp, flag, arr, dt)]
    res = subprocess.run(args + list(extra), capture_output=True, text=True)
    if res.returncode != 0:
        print(res.stderr)
        res.check_returncode()
    return float(res.stdout.strip()), load_file(out)


def compare(case, loss, grads, want_loss, want_grads):
    ok = abs(loss - want_loss) <= 1e-5 * max(1.0, abs(want_loss))
    worst = (0.0, "")
    # A tensor whose exact gradient is 0 (key biases: softmax is shift-invariant) holds only
    # rounding noise on both sides: compare it against 1e-3 of the model's largest gradient.
    floor = 1e-3 * max(np.abs(g).max() for g in want_grads.values())
    for name, g in want_grads.items():
        if name not in grads:
            print(f"FAIL {case}: weft has no gradient for {name}")
            ok = False
            continue
        scale = max(np.abs(g).max(), floor)
        err = np.abs(grads[name] - g).max() / scale
        worst = max(worst, (err, name))
        if err > TOL:
            print(f"FAIL {case}: {name}: max |diff| {err:.3g} of the scale {scale:.3g}")
            ok = False
    extra = set(grads) - set(want_grads)
    if extra:
        print(f"FAIL {case}: weft trains tensors torch does not: {sorted(extra)[:5]}")
        ok = False
    print(f"{'ok  ' if ok else 'FAIL'} {case}: loss {loss:.7g} vs {want_loss:.7g}, {len(want_grads)} "
          f"gradients, worst {worst[0]:.2g} ({worst[1]})")
    if not ok:
        failures.append(case)


def torch_grads(model, names=None):
    out = {}
    for n, p in model.named_parameters():
        if p.grad is not None:
            out[n if names is None else names(n)] = p.grad.detach().numpy().copy()
    return out


def lm_batch(vocab, B, T, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (B, T), generator=g)
    targets = torch.full((B, T), -100, dtype=torch.long)
    targets[:, :-1] = ids[:, 1:]
    targets[0, :3] = -100  # a prompt whose tokens carry no loss
    return ids, targets


def lm_loss(logits, targets):
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                             ignore_index=-100)


def full_lm(tmp, name, config):
    config.initializer_range = 0.2
    torch.manual_seed(0)
    model = tf.AutoModelForCausalLM.from_config(config)
    d = os.path.join(tmp, name)
    model.save_pretrained(d, safe_serialization=True)
    B, T = 2, 9
    ids, targets = lm_batch(config.vocab_size, B, T, 1)
    loss = lm_loss(model(input_ids=ids).logits, targets)
    loss.backward()
    got_loss, got = run_weft(tmp, d, B, T, {"ids": (ids, np.int32), "targets": (targets, np.int32)})
    want = torch_grads(model)
    if config.model_type == "gpt2":  # Conv1D weights are [in, out]; weft reports HF Linear (out, in)
        want = gpt2_linear_layout(want)
    compare(name + " full", got_loss, got, loss.item(), want)


def gpt2_linear_layout(grads):
    """weft holds c_attn as q/k/v and Conv1D weights transposed: map torch's grads to that."""
    out = {}
    for n, g in grads.items():
        if n.endswith("attn.c_attn.weight"):
            C = g.shape[0]
            for part, key in enumerate(("q", "k", "v")):
                out[n + f":{key}"] = g[:, part * C:(part + 1) * C].T
        elif n.endswith("attn.c_attn.bias"):
            C = g.shape[0] // 3
            for part, key in enumerate(("q", "k", "v")):
                out[n + f":{key}"] = g[part * C:(part + 1) * C]
        elif any(n.endswith(s) for s in ("c_proj.weight", "c_fc.weight")):
            out[n] = g.T
        else:
            out[n] = g
    return out


def lora_lm(tmp, dora=False, config=None, targets_list=None, name="llama"):
    """LoRA (or DoRA with dora: peft's use_dora, the magnitude's gradient too) with random B."""
    from peft import LoraConfig, get_peft_model
    cfg = config or tf.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2)
    cfg.initializer_range = 0.2
    torch.manual_seed(0)
    base = tf.AutoModelForCausalLM.from_config(cfg)
    if dora:  # DoRA scales the bias too: give the (zero-initialised) biases values
        with torch.no_grad():
            for n, p in base.named_parameters():
                if n.endswith(".bias"):
                    p.normal_(std=0.2)
    d = os.path.join(tmp, name + ("-dora" if dora else "-lora") + "-base")
    base.save_pretrained(d, safe_serialization=True)
    targets_list = targets_list or ["q_proj", "v_proj", "down_proj", "gate_proj"]
    peft_cfg = LoraConfig(r=4, lora_alpha=8, target_modules=targets_list, lora_dropout=0.0, use_dora=dora,
                          init_lora_weights=False)  # random B too, so dA is not zero
    model = get_peft_model(base, peft_cfg)
    if dora:  # peft starts the magnitude at the norm (a scale of 1): move it so the scale matters
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "lora_magnitude_vector" in n:
                    p.mul_(1 + 0.3 * torch.randn(p.shape))
    ad = os.path.join(tmp, name + ("-dora" if dora else "-lora") + "-adapter")
    model.save_pretrained(ad)
    B, T = 2, 9
    ids, targets = lm_batch(cfg.vocab_size, B, T, 2)
    loss = lm_loss(model(input_ids=ids).logits, targets)
    loss.backward()
    got_loss, got = run_weft(tmp, d, B, T, {"ids": (ids, np.int32), "targets": (targets, np.int32)},
                             ["--lora", "4", "8", ",".join(targets_list), "--peft", ad] + (["--dora"] if dora else []))
    want = torch_grads(model, lambda n: n.replace("base_model.model.", "").replace(".default", "")
                       .replace("lora_magnitude_vector.weight", "lora_magnitude_vector"))
    compare(name + (" dora" if dora else " lora"), got_loss, got, loss.item(), want)


def peft_name(n):
    """peft's parameter name -> weft's (the adapter file's name without base_model.model.)."""
    return (n.replace("base_model.model.", "").replace(".modules_to_save.default", "")
            .replace(".default", ""))


def ia3_lm(tmp, name, config, targets=None, ff=None):
    """IA3 as peft's IA3Config (targets/feedforward None = peft's defaults for the model type),
    vectors random (init_ia3_weights=False) so a wrong scaling cannot hide behind ones; weft
    imports the adapter peft saved."""
    from peft import IA3Config, get_peft_model
    config.initializer_range = 0.2
    torch.manual_seed(0)
    base = tf.AutoModelForCausalLM.from_config(config)
    d = os.path.join(tmp, name + "-ia3-base")
    base.save_pretrained(d, safe_serialization=True)
    model = get_peft_model(base, IA3Config(target_modules=targets, feedforward_modules=ff,
                                           init_ia3_weights=False, task_type="CAUSAL_LM"))
    ad = os.path.join(tmp, name + "-ia3-adapter")
    model.save_pretrained(ad)
    B, T = 2, 9
    ids, tg = lm_batch(config.vocab_size, B, T, 5)
    loss = lm_loss(model(input_ids=ids).logits, tg)
    loss.backward()
    args = ["--ia3", ",".join(targets) if targets else "auto", ",".join(ff) if ff else "auto", "--peft", ad]
    got_loss, got = run_weft(tmp, d, B, T, {"ids": (ids, np.int32), "targets": (tg, np.int32)}, args)
    compare(name + " ia3", got_loss, got, loss.item(), torch_grads(model, peft_name))


def prompt_lm(tmp, name, config, nv=4):
    """Prompt tuning as peft's PROMPT_TUNING (RANDOM init): nv virtual tokens before each row,
    attended by every token, positions 0..nv-1 first; a right-padded row checks the mask. weft
    imports the soft prompt peft saved; loss over the real tokens' targets only."""
    from peft import PromptTuningConfig, get_peft_model
    config.initializer_range = 0.2
    torch.manual_seed(0)
    base = tf.AutoModelForCausalLM.from_config(config)
    d = os.path.join(tmp, name + "-prompt-base")
    base.save_pretrained(d, safe_serialization=True)
    model = get_peft_model(base, PromptTuningConfig(num_virtual_tokens=nv, task_type="CAUSAL_LM"))
    ad = os.path.join(tmp, name + "-prompt-adapter")
    model.save_pretrained(ad)
    B, T = 2, 9
    ids, tg = lm_batch(config.vocab_size, B, T, 6)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 6:] = 0
    tg[1, 5:] = -100
    logits = model(input_ids=ids, attention_mask=mask).logits
    if logits.shape[1] != nv + T:
        failures.append(name + " prompt")
        print(f"FAIL {name} prompt: peft returned {logits.shape[1]} positions, expected {nv + T}")
    loss = lm_loss(logits[:, nv:], tg)
    loss.backward()
    inputs = {"ids": (ids, np.int32), "mask": (mask, np.int32), "targets": (tg, np.int32)}
    got_loss, got = run_weft(tmp, d, B, T, inputs, ["--prompt", str(nv), "--peft", ad])
    want = {"prompt_embeddings" if "prompt_encoder" in n else n: g for n, g in torch_grads(model).items()}
    compare(name + " prompt tuning", got_loss, got, loss.item(), want)


class Houlsby(torch.nn.Module):
    """The adapter weft implements (model.h wf_houlsby): h + up(gelu(down(h)))."""

    def __init__(self, C, m):
        super().__init__()
        self.down, self.up = torch.nn.Linear(C, m), torch.nn.Linear(m, C)

    def forward(self, h):
        return h + self.up(torch.nn.functional.gelu(self.down(h)))


class Then(torch.nn.Module):
    """base, then the adapter on its output (patched in place of the base module)."""

    def __init__(self, base, adapter):
        super().__init__()
        self.base, self.adapter = base, adapter

    def forward(self, x, *args, **kw):
        return self.adapter(self.base(x, *args, **kw))


def add_houlsby(model, blocks, block_path, attn_out, mlp_out, C, m):
    """Wraps each block's attention output and MLP output module with a Houlsby adapter with
    random weights (std 0.2, so the up projection is not the zero of weft's init); returns
    weft's tensor name -> torch parameter."""
    names = {}
    for i, blk in enumerate(blocks):
        for kind, path in (("attn", attn_out), ("mlp", mlp_out)):
            parent = blk
            *head, last = path.split(".")
            for p in head:
                parent = getattr(parent, p)
            ad = Houlsby(C, m)
            for prm in ad.parameters():
                torch.nn.init.normal_(prm, std=0.2)
            setattr(parent, last, Then(getattr(parent, last), ad))
            for pn, prm in ad.named_parameters():
                names[f"{block_path}.{i}.adapter_{kind}.{pn}"] = prm
    return names


def houlsby_case(tmp, name, model, blocks, block_path, attn_out, mlp_out, C, inputs, forward_loss, B, T):
    """Gradients of Houlsby adapters (bottleneck 6) against the torch module above patched into
    the HF model; the base model frozen, a sequence head trains as weft trains it."""
    d = os.path.join(tmp, name + "-houlsby-base")
    model.save_pretrained(d, safe_serialization=True)
    torch.manual_seed(11)
    names = add_houlsby(model, blocks, block_path, attn_out, mlp_out, C, 6)
    from safetensors.torch import save_file
    ad = os.path.join(tmp, name + "-houlsby.safetensors")
    save_file({k: v.detach().contiguous() for k, v in names.items()}, ad)
    for n, prm in model.named_parameters():
        prm.requires_grad_(".adapter." in n or n.startswith("classifier."))
    loss = forward_loss(model)
    loss.backward()
    got_loss, got = run_weft(tmp, d, B, T, inputs, ["--adapter", "6", "--peft", ad])
    want = {k: v.grad.numpy().copy() for k, v in names.items()}
    want.update({n: prm.grad.numpy().copy() for n, prm in model.named_parameters()
                 if n.startswith("classifier.")})
    compare(name + " houlsby adapter", got_loss, got, loss.item(), want)


def houlsby_cases(tmp):
    B, T = 2, 9
    cfg = tf.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, initializer_range=0.2)
    torch.manual_seed(0)
    llama = tf.LlamaForCausalLM(cfg)
    ids, tg = lm_batch(256, B, T, 8)
    lm_in = {"ids": (ids, np.int32), "targets": (tg, np.int32)}
    houlsby_case(tmp, "llama", llama, llama.model.layers, "model.layers", "self_attn.o_proj", "mlp.down_proj",
                 32, lm_in, lambda mdl: lm_loss(mdl(input_ids=ids).logits, tg), B, T)
    torch.manual_seed(0)
    gpt2 = tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=256, n_embd=32, n_layer=2, n_head=4, n_positions=32,
                                            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.2))
    houlsby_case(tmp, "gpt2", gpt2, gpt2.transformer.h, "transformer.h", "attn.c_proj", "mlp.c_proj",
                 32, lm_in, lambda mdl: lm_loss(mdl(input_ids=ids).logits, tg), B, T)
    bcfg = tf.BertConfig(vocab_size=256, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64, max_position_embeddings=32, initializer_range=0.2,
                         hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3)
    torch.manual_seed(3)
    bert = tf.BertForSequenceClassification(bcfg)
    bids = torch.randint(1, 256, (3, 8), generator=torch.Generator().manual_seed(9))
    mask = torch.ones(3, 8, dtype=torch.long)
    mask[2, 6:] = 0
    types = torch.zeros(3, 8, dtype=torch.long)
    labels = torch.tensor([1, 0, 2])
    bert_in = {"ids": (bids, np.int32), "mask": (mask, np.int32), "types": (types, np.int32),
               "labels": (labels, np.int32)}
    houlsby_case(tmp, "bert-seqcls", bert, bert.bert.encoder.layer, "bert.encoder.layer", "attention.output.dense",
                 "output.dense", 32, bert_in, lambda mdl: torch.nn.functional.cross_entropy(
                     mdl(input_ids=bids, attention_mask=mask, token_type_ids=types).logits, labels), 3, 8)


def bert_prompt(tmp, nv=3):
    """Prompt tuning for BERT sequence classification as peft's SEQ_CLS prompt tuning: the
    pooler reads position 0 (the first virtual token), token types 0 for the virtual tokens, the
    classifier trains (modules_to_save)."""
    from peft import PromptTuningConfig, get_peft_model
    cfg = tf.BertConfig(vocab_size=256, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=32, initializer_range=0.2,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3)
    torch.manual_seed(3)
    base = tf.BertForSequenceClassification(cfg)
    d = os.path.join(tmp, "bert-prompt-base")
    base.save_pretrained(d, safe_serialization=True)
    model = get_peft_model(base, PromptTuningConfig(num_virtual_tokens=nv, task_type="SEQ_CLS"))
    ad = os.path.join(tmp, "bert-prompt-adapter")
    model.save_pretrained(ad)
    B, T = 3, 8
    ids = torch.randint(1, 256, (B, T), generator=torch.Generator().manual_seed(5))
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 5:] = 0
    types = torch.zeros(B, T, dtype=torch.long)
    types[2, 4:] = 1
    labels = torch.tensor([2, 0, 1])
    loss = torch.nn.functional.cross_entropy(model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits,
                                             labels)
    loss.backward()
    inputs = {"ids": (ids, np.int32), "mask": (mask, np.int32), "types": (types, np.int32),
              "labels": (labels, np.int32)}
    got_loss, got = run_weft(tmp, d, B, T, inputs, ["--prompt", str(nv), "--peft", ad])
    want = {"prompt_embeddings" if "prompt_encoder" in n else
            n.replace("base_model.", "").replace(".modules_to_save.default", ""): g
            for n, g in torch_grads(model).items()}
    compare("bert-seqcls prompt tuning", got_loss, got, loss.item(), want)


def bert_ia3(tmp):
    """BERT sequence classification under IA3 with peft's defaults (key, value, output.dense;
    both output.dense layers feed-forward) and the classifier as modules_to_save."""
    from peft import IA3Config, get_peft_model
    cfg = tf.BertConfig(vocab_size=256, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=32, initializer_range=0.2,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3)
    torch.manual_seed(3)
    base = tf.BertForSequenceClassification(cfg)
    d = os.path.join(tmp, "bert-ia3-base")
    base.save_pretrained(d, safe_serialization=True)
    model = get_peft_model(base, IA3Config(init_ia3_weights=False, task_type="SEQ_CLS"))
    ad = os.path.join(tmp, "bert-ia3-adapter")
    model.save_pretrained(ad)
    B, T = 3, 8
    ids = torch.randint(1, 256, (B, T), generator=torch.Generator().manual_seed(4))
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 5:] = 0
    types = torch.zeros(B, T, dtype=torch.long)
    labels = torch.tensor([0, 2, 1])
    loss = torch.nn.functional.cross_entropy(model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits,
                                             labels)
    loss.backward()
    inputs = {"ids": (ids, np.int32), "mask": (mask, np.int32), "types": (types, np.int32),
              "labels": (labels, np.int32)}
    got_loss, got = run_weft(tmp, d, B, T, inputs, ["--ia3", "auto", "auto", "--peft", ad])
    compare("bert-seqcls ia3", got_loss, got, loss.item(), torch_grads(model, peft_name))


def bert_cls(tmp, regression, bitfit=False):
    kw = dict(num_labels=1, problem_type="regression") if regression else dict(num_labels=3)
    cfg = tf.BertConfig(vocab_size=256, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=32, initializer_range=0.2,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **kw)
    torch.manual_seed(3)
    model = tf.BertForSequenceClassification(cfg)
    name = "bert-regression" if regression else "bert-seqcls"
    d = os.path.join(tmp, name)
    model.save_pretrained(d, safe_serialization=True)
    B, T = 3, 8
    ids = torch.randint(1, 256, (B, T))
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 5:] = 0
    types = torch.zeros(B, T, dtype=torch.long)
    out = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
    inputs = {"ids": (ids, np.int32), "mask": (mask, np.int32), "types": (types, np.int32)}
    if regression:
        values = torch.randn(B)
        loss = torch.nn.functional.mse_loss(out.reshape(-1), values)
        inputs["values"] = (values, np.float32)
    else:
        labels = torch.tensor([0, 2, 1])
        loss = torch.nn.functional.cross_entropy(out, labels)
        inputs["labels"] = (labels, np.int32)
    loss.backward()
    want = torch_grads(model)
    if bitfit:  # BitFit: only biases and the new head train
        want = {n: g for n, g in want.items() if n.endswith(".bias") or n.startswith("classifier.")}
    got_loss, got = run_weft(tmp, d, B, T, inputs, ["--bitfit"] if bitfit else [])
    compare(name + (" bitfit" if bitfit else " full"), got_loss, got, loss.item(), want)


def save_bare(path, tensors):
    """One safetensors file with weft's names (what weft's composed export holds)."""
    from safetensors.torch import save_file
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, path)


def compose_llama(tmp, nv=3):
    """(a) LoRA (peft, random B) on q, v, gate, down + Houlsby adapters after o_proj and
    down_proj (the LoRA'd output) + a soft prompt of nv tokens prepended to the embeddings with
    a mask of ones, as peft's prompt tuning does."""
    from peft import LoraConfig, get_peft_model
    cfg = tf.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, initializer_range=0.2)
    torch.manual_seed(0)
    base = tf.LlamaForCausalLM(cfg)
    d = os.path.join(tmp, "llama-compose-base")
    base.save_pretrained(d, safe_serialization=True)
    targets = ["q_proj", "v_proj", "gate_proj", "down_proj"]
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=targets, lora_dropout=0.0,
                                            init_lora_weights=False))
    tensors = {peft_name(n): p for n, p in model.named_parameters() if ".lora_" in n}
    torch.manual_seed(12)
    names = add_houlsby(model, model.base_model.model.model.layers, "model.layers", "self_attn.o_proj",
                        "mlp.down_proj", 32, 6)
    prompt = torch.nn.Parameter(torch.randn(nv, 32))
    tensors.update(names)
    tensors["prompt_embeddings"] = prompt
    ad = os.path.join(tmp, "llama-compose.safetensors")
    save_bare(ad, tensors)
    B, T = 2, 9
    ids, tg = lm_batch(256, B, T, 13)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 7:] = 0
    tg[1, 6:] = -100
    emb = model.get_input_embeddings()(ids)
    x = torch.cat([prompt.unsqueeze(0).expand(B, -1, -1), emb], dim=1)
    full_mask = torch.cat([torch.ones(B, nv, dtype=torch.long), mask], dim=1)
    loss = lm_loss(model(inputs_embeds=x, attention_mask=full_mask).logits[:, nv:], tg)
    loss.backward()
    inputs = {"ids": (ids, np.int32), "mask": (mask, np.int32), "targets": (tg, np.int32)}
    got_loss, got = run_weft(tmp, d, B, T, inputs, ["--lora", "4", "8", ",".join(targets), "--adapter", "6",
                                                    "--prompt", str(nv), "--peft", ad])
    want = {k: v.grad.numpy().copy() for k, v in tensors.items()}
    compare("llama lora+houlsby+prompt", got_loss, got, loss.item(), want)


def compose_bert_bitfit(tmp, dora=False):
    """(b) BERT sequence classification, LoRA (or DoRA) on query/value + BitFit: peft's LoraConfig
    with bias="all" (every bias trains, the classifier is modules_to_save), biases made non-zero."""
    from peft import LoraConfig, get_peft_model
    cfg = tf.BertConfig(vocab_size=256, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=32, initializer_range=0.2,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3)
    torch.manual_seed(3)
    base = tf.BertForSequenceClassification(cfg)
    with torch.no_grad():
        for n, p in base.named_parameters():
            if n.endswith(".bias"):
                p.normal_(std=0.2)
    name = "bert-seqcls " + ("dora" if dora else "lora") + "+bitfit"
    d = os.path.join(tmp, "bert-compose-base")
    base.save_pretrained(d, safe_serialization=True)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], lora_dropout=0.0,
                                            bias="all", init_lora_weights=False, task_type="SEQ_CLS", use_dora=dora))
    if dora:  # peft starts the magnitude at the norm (a scale of 1): move it so the scale matters
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "lora_magnitude_vector" in n:
                    p.mul_(1 + 0.3 * torch.randn(p.shape))
    ad = os.path.join(tmp, "bert-compose.safetensors")
    save_bare(ad, {peft_name(n).replace("lora_magnitude_vector.weight", "lora_magnitude_vector"): p
                   for n, p in model.named_parameters() if ".lora_" in n})
    B, T = 3, 8
    ids = torch.randint(1, 256, (B, T), generator=torch.Generator().manual_seed(14))
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 5:] = 0
    types = torch.zeros(B, T, dtype=torch.long)
    labels = torch.tensor([1, 2, 0])
    loss = torch.nn.functional.cross_entropy(model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits,
                                             labels)
    loss.backward()
    inputs = {"ids": (ids, np.int32), "mask": (mask, np.int32), "types": (types, np.int32),
              "labels": (labels, np.int32)}
    got_loss, got = run_weft(tmp, d, B, T, inputs, ["--lora", "4", "8", "query,value", "--bitfit", "--peft", ad]
                             + (["--dora"] if dora else []))
    want = torch_grads(model, lambda n: peft_name(n).replace(".base_layer.", ".")
                       .replace("lora_magnitude_vector.weight", "lora_magnitude_vector"))
    compare(name, got_loss, got, loss.item(), want)


LLAMA_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def compose_llama_top(tmp):
    """(c) LoRA on every linear of block 0 (peft's layers_to_transform) while block 1, the
    final norm and the untied LM head train fully (weft: --top 1 with LoRA on every linear)."""
    from peft import LoraConfig, get_peft_model
    cfg = tf.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, initializer_range=0.2)
    torch.manual_seed(0)
    base = tf.LlamaForCausalLM(cfg)
    d = os.path.join(tmp, "llama-top-base")
    base.save_pretrained(d, safe_serialization=True)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=LLAMA_LINEAR, lora_dropout=0.0,
                                            layers_to_transform=[0], init_lora_weights=False))
    for n, p in model.named_parameters():
        if ".layers.1." in n or n.endswith("model.norm.weight") or "lm_head" in n:
            p.requires_grad_(True)
    ad = os.path.join(tmp, "llama-top.safetensors")
    save_bare(ad, {peft_name(n): p for n, p in model.named_parameters() if ".lora_" in n})
    B, T = 2, 9
    ids, tg = lm_batch(256, B, T, 15)
    loss = lm_loss(model(input_ids=ids).logits, tg)
    loss.backward()
    got_loss, got = run_weft(tmp, d, B, T, {"ids": (ids, np.int32), "targets": (tg, np.int32)},
                             ["--lora", "4", "8", ",".join(LLAMA_LINEAR), "--top", "1", "--peft", ad])
    want = torch_grads(model, lambda n: peft_name(n).replace(".base_layer.", "."))
    compare("llama lora+top layers", got_loss, got, loss.item(), want)


def vit_checkpoint_name(n):
    """transformers 5 names ViT parameters q_proj/mlp.fc1/...; its checkpoints keep the old names."""
    for new, old in ((".layers.", ".encoder.layer."), (".attention.q_proj.", ".attention.attention.query."),
                     (".attention.k_proj.", ".attention.attention.key."),
                     (".attention.v_proj.", ".attention.attention.value."),
                     (".attention.o_proj.", ".attention.output.dense."), (".mlp.fc1.", ".intermediate.dense."),
                     (".mlp.fc2.", ".output.dense.")):
        n = n.replace(new, old)
    return n


def vit_cls(tmp):
    cfg = tf.ViTConfig(image_size=16, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=4, intermediate_size=64, num_labels=4, initializer_range=0.2,
                       hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(4)
    model = tf.ViTForImageClassification(cfg)
    d = os.path.join(tmp, "vit")
    model.save_pretrained(d, safe_serialization=True)
    pixels = torch.randn(2, 3, 16, 16)
    labels = torch.tensor([3, 1])
    loss = torch.nn.functional.cross_entropy(model(pixel_values=pixels).logits, labels)
    loss.backward()
    want = {n: g.reshape(-1, g.shape[-1]) if n.endswith(("cls_token", "position_embeddings")) else g
            for n, g in torch_grads(model, vit_checkpoint_name).items()}
    want["vit.embeddings.cls_token"] = want["vit.embeddings.cls_token"].reshape(-1)
    w = want["vit.embeddings.patch_embeddings.projection.weight"]
    want["vit.embeddings.patch_embeddings.projection.weight"] = w.reshape(w.shape[0], -1)
    got_loss, got = run_weft(tmp, d, 2, 5, {"pixels": (pixels, np.float32), "labels": (labels, np.int32)})
    compare("vit full", got_loss, got, loss.item(), want)


def main():
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        full_lm(tmp, "llama-gqa", tf.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=48,
                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2))
        full_lm(tmp, "llama-tied", tf.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=48,
                num_hidden_layers=2, num_attention_heads=4, tie_word_embeddings=True))
        full_lm(tmp, "qwen2", tf.Qwen2Config(vocab_size=256, hidden_size=32, intermediate_size=48,
                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2))
        full_lm(tmp, "gpt2", tf.GPT2Config(vocab_size=256, n_embd=32, n_layer=2, n_head=4, n_positions=32,
                resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
        lora_lm(tmp)
        lora_lm(tmp, dora=True)
        lora_lm(tmp, dora=True, name="gpt2", targets_list=["c_attn", "c_fc"], config=tf.GPT2Config(
                vocab_size=256, n_embd=32, n_layer=2, n_head=4, n_positions=32, resid_pdrop=0.0, embd_pdrop=0.0,
                attn_pdrop=0.0))
        bert_cls(tmp, regression=False)
        bert_cls(tmp, regression=True)
        bert_cls(tmp, regression=False, bitfit=True)
        vit_cls(tmp)
        ia3_lm(tmp, "llama", tf.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=48,
               num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2))
        ia3_lm(tmp, "qwen2", tf.Qwen2Config(vocab_size=256, hidden_size=32, intermediate_size=48,
               num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2))
        ia3_lm(tmp, "gpt2", tf.GPT2Config(vocab_size=256, n_embd=32, n_layer=2, n_head=4, n_positions=32,
               resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
        ia3_lm(tmp, "llama-custom", tf.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=48,
               num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
               targets=["q_proj", "o_proj", "up_proj", "gate_proj", "down_proj"], ff=["o_proj", "down_proj"])
        bert_ia3(tmp)
        houlsby_cases(tmp)
        bert_prompt(tmp)
        prompt_lm(tmp, "llama", tf.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=48,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2))
        prompt_lm(tmp, "gpt2", tf.GPT2Config(vocab_size=256, n_embd=32, n_layer=2, n_head=4, n_positions=32,
                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
        compose_llama(tmp)
        compose_bert_bitfit(tmp)
        compose_bert_bitfit(tmp, dora=True)
        compose_llama_top(tmp)
    if failures:
        print(f"{len(failures)} case(s) differ: {', '.join(failures)}")
        return 1
    print("all gradients match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
