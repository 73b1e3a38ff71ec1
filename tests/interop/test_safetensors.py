"""weft's safetensors reader and writer against the reference library (huggingface/safetensors).

Run by meson (suite 'interop') as: run-interop.sh test_safetensors.py BUILD/tests/st_dump
1. files written by the library (numpy and torch APIs: every common dtype, bf16, fp8, rank 0,
   zero-size) are read by weft (st_dump read) with identical bytes, shapes and fp32 values;
2. files written by weft (st_dump copy) load in safe_open and torch with identical values and
   metadata {"format": "pt", ...}, tensors in weft's order, data 8-aligned;
3. a sharded directory saved by transformers' save_pretrained is read across its shards;
4. malformed files: the library and weft reject the same ones, and accept the same odd-but-legal
   ones. Everything is built here in a temporary directory; nothing is downloaded.
Exit code: 0 pass, 1 fail.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file as np_save_file
from safetensors.torch import load_file as torch_load_file
from safetensors.torch import save_file as torch_save_file

ST_DUMP = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        if len(failures) <= 20:
            print("FAIL", what)


def dump(path):
    """st_dump read -> (metadata dict, {name: (dtype, shape, raw bytes, fp32 bits or None)})."""
    out = subprocess.run([ST_DUMP, "read", path], capture_output=True, check=True).stdout
    meta, tensors = {}, {}
    for line in out.decode("utf-8").splitlines():
        f = line.split("\t")
        if f[0] == "meta":
            meta[f[1]] = f[2]
        else:
            shape = tuple(int(d) for d in f[3].split(",")) if f[3] else ()
            raw = b"" if f[4] == "-" else bytes.fromhex(f[4])
            bits = None if f[5] == "-" else np.array([int(b, 16) for b in f[5].split(",")], np.uint32)
            tensors[f[1]] = (f[2], shape, raw, bits)
    return meta, tensors


def same_f32(bits, expected):
    """fp32 bit patterns equal, any NaN matching any NaN."""
    got = bits.view(np.float32)
    exp = np.ascontiguousarray(expected, dtype=np.float32).reshape(-1)
    nan = np.isnan(exp)
    return got.shape == exp.shape and np.array_equal(np.isnan(got), nan) and np.array_equal(
        got.view(np.uint32)[~nan], exp.view(np.uint32)[~nan])


def numpy_fixture():
    rng = np.random.default_rng(7)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, 65504.0, 3.0e38]
    return {
        "f32": np.concatenate([rng.standard_normal(16), special]).astype(np.float32).reshape(4, 6),
        "f16": np.concatenate([rng.standard_normal(9), [6e-8, -65504, np.inf, np.nan]]).astype(np.float16),
        "f64": np.array([[np.pi, -1e300], [1e-310, 0.1]]),
        "i64": np.array([-(2**63), 2**40, -1], np.int64),
        "i32": np.arange(-6, 6, dtype=np.int32).reshape(2, 3, 2),
        "i16": np.array([-32768, 32767], np.int16),
        "i8": np.array([-128, 0, 127], np.int8),
        "u8": np.arange(7, dtype=np.uint8),
        "u16": np.array([65535, 1], np.uint16),
        "u32": np.array([4294967295], np.uint32),
        "u64": np.array([2**64 - 1], np.uint64),
        "bool": np.array([True, False, True]),
        "scalar": np.array(2.5, np.float32),
        "empty": np.zeros((0, 3), np.float32),
        "name with \"quotes\" and é": np.ones((1, 1), np.float32),
    }


def torch_fixture():
    g = torch.Generator().manual_seed(3)
    return {
        "bf16": torch.randn(5, 3, generator=g).to(torch.bfloat16),
        "bf16.special": torch.tensor([float("inf"), -0.0, 1e-39, 3.0e38], dtype=torch.bfloat16),
        "f8e4m3": torch.randn(6, generator=g).to(torch.float8_e4m3fn),
        "f8e5m2": torch.randn(6, generator=g).to(torch.float8_e5m2),
        "f16": torch.randn(2, 2, generator=g).to(torch.float16),
    }


NP_DTYPE = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def test_library_writes_weft_reads(tmp):
    arrays = numpy_fixture()
    path = os.path.join(tmp, "np.safetensors")
    np_save_file(arrays, path, metadata={"format": "pt", "origin": "numpy"})
    meta, got = dump(path)
    check(meta == {"format": "pt", "origin": "numpy"}, f"numpy file metadata: {meta}")
    check(set(got) == set(arrays), f"numpy file names: {sorted(got)}")
    for name, a in arrays.items():
        if name not in got:
            continue
        dtype, shape, raw, bits = got[name]
        check(shape == a.shape, f"{name}: shape {shape} != {a.shape}")
        check(raw == np.ascontiguousarray(a).tobytes(), f"{name}: raw bytes differ")
        if dtype in NP_DTYPE:
            with np.errstate(over="ignore"):  # 1e300 -> inf, as C's (float) cast does
                want = a.astype(np.float32)
            check(bits is not None and same_f32(bits, want) if a.size else bits is None,
                  f"{name}: fp32 values differ")
    tensors = torch_fixture()
    path = os.path.join(tmp, "torch.safetensors")
    torch_save_file(tensors, path)
    meta, got = dump(path)
    check(meta == {}, f"torch file metadata: {meta}")  # save_file writes none unless given
    for name, t in tensors.items():
        dtype, shape, raw, bits = got[name]
        check(shape == tuple(t.shape), f"{name}: shape {shape}")
        check(raw == t.contiguous().view(torch.uint8).numpy().tobytes(), f"{name}: raw bytes differ")
        if t.dtype in (torch.bfloat16, torch.float16):
            check(bits is not None and same_f32(bits, t.float().numpy()), f"{name}: fp32 values differ")
        else:
            check(bits is None, f"{name}: {dtype} should not convert to fp32")
    expect = {"bf16": "BF16", "f8e4m3": "F8_E4M3", "f8e5m2": "F8_E5M2", "f16": "F16"}
    for name, d in expect.items():
        check(got[name][0] == d, f"{name}: dtype {got[name][0]} != {d}")


def header_of(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return n, json.loads(f.read(n).decode("utf-8"))


def test_weft_writes_library_reads(tmp):
    src = os.path.join(tmp, "np.safetensors")
    out = os.path.join(tmp, "weft.safetensors")
    subprocess.run([ST_DUMP, "copy", src, out, "--reverse", "weft.note=héllo"], check=True)
    arrays = numpy_fixture()
    n, header = header_of(out)
    check(n % 8 == 0, f"weft header length {n} is not a multiple of 8")
    check(header["__metadata__"] == {"format": "pt", "origin": "numpy", "weft.note": "héllo"},
          f"weft metadata {header['__metadata__']}")
    _, src_header = header_of(src)
    src_order = sorted((v["data_offsets"], k) for k, v in src_header.items() if k != "__metadata__")
    out_order = sorted((v["data_offsets"], k) for k, v in header.items() if k != "__metadata__")
    check([k for _, k in out_order] == [k for _, k in reversed(src_order)],
          "weft did not keep the given (reversed) tensor order")
    with safe_open(out, framework="np") as f:
        check(f.metadata() == {"format": "pt", "origin": "numpy", "weft.note": "héllo"},
              f"safe_open metadata {f.metadata()}")
        check(set(f.keys()) == set(arrays), "safe_open keys")
        for name, a in arrays.items():
            b = f.get_tensor(name)
            check(b.dtype == a.dtype and b.shape == a.shape and b.tobytes() == a.tobytes(),
                  f"safe_open {name}: values differ")
    # torch, including bf16 and fp8, through weft's writer
    tsrc, tout = os.path.join(tmp, "torch.safetensors"), os.path.join(tmp, "weft_torch.safetensors")
    subprocess.run([ST_DUMP, "copy", tsrc, tout], check=True)
    loaded = torch_load_file(tout)
    for name, t in torch_fixture().items():
        u = loaded[name]
        check(u.dtype == t.dtype and u.shape == t.shape and torch.equal(u.view(torch.uint8), t.view(torch.uint8)),
              f"torch {name}: values differ")
    with safe_open(tout, framework="pt") as f:
        check(f.metadata() == {"format": "pt"}, f"torch copy metadata {f.metadata()}")


def test_sharded(tmp):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=96, n_positions=16,
                     bos_token_id=0, eos_token_id=0)
    model_dir = os.path.join(tmp, "gpt2")
    GPT2LMHeadModel(cfg).save_pretrained(model_dir, max_shard_size="20KB")
    files = sorted(os.listdir(model_dir))
    shards = [f for f in files if f.endswith(".safetensors")]
    check("model.safetensors.index.json" in files and len(shards) > 1, f"not sharded: {files}")
    with open(os.path.join(model_dir, "model.safetensors.index.json")) as f:
        weight_map = json.load(f)["weight_map"]
    _, got = dump(model_dir)
    check(set(got) == set(weight_map), f"sharded names differ: {sorted(set(got) ^ set(weight_map))}")
    for name, shard in weight_map.items():
        with safe_open(os.path.join(model_dir, shard), framework="pt") as f:
            t = f.get_tensor(name)
        check(name in got and got[name][2] == t.contiguous().view(torch.uint8).numpy().tobytes(),
              f"sharded {name}: bytes differ")
        check(name in got and same_f32(got[name][3], t.float().numpy()), f"sharded {name}: fp32 differ")


def st_bytes(header, data=b"", n=None):
    h = header.encode("utf-8") if isinstance(header, str) else header
    return struct.pack("<Q", len(h) if n is None else n) + h + data


T = '{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'
REJECT = {
    "short": b"\x02\x00\x00",
    "huge N": st_bytes("{}", n=100_000_001),
    "N past EOF": st_bytes("{}", n=50),
    "bad utf-8": st_bytes(b'{"w\xff":' + T.encode() + b"}", bytes(8)),
    "trailing comma": st_bytes('{"w":' + T + ",}", bytes(8)),
    "not an object": st_bytes("[]"),
    "unknown dtype": st_bytes('{"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}', bytes(8)),
    "missing shape": st_bytes('{"w":{"dtype":"F32","data_offsets":[0,8]}}', bytes(8)),
    "negative dim": st_bytes('{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', bytes(8)),
    "fractional dim": st_bytes('{"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', bytes(8)),
    "leading zero": st_bytes('{"w":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}}', bytes(8)),
    "-0 offset": st_bytes('{"w":{"dtype":"F32","shape":[2],"data_offsets":[-0,8]}}', bytes(8)),
    "raw newline in name": st_bytes('{"w\n":' + T + "}", bytes(8)),
    "lone surrogate": st_bytes('{"w\\ud800":' + T + "}", bytes(8)),
    "metadata number": st_bytes('{"__metadata__":{"a":1}}'),
    "gap": st_bytes('{"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', bytes(12)),
    "overlap": st_bytes('{"a":' + T + ',"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}',
                        bytes(12)),
    "end < begin": st_bytes('{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},'
                            '"b":{"dtype":"U8","shape":[1],"data_offsets":[1,0]}}', bytes(1)),
    "overflow": st_bytes('{"w":{"dtype":"F32","shape":[4611686018427387904,8],"data_offsets":[0,0]}}'),
    "F4 remainder": st_bytes('{"w":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}', bytes(2)),
    "size mismatch": st_bytes('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', bytes(4)),
    "trailing bytes": st_bytes('{"w":' + T + "}", bytes(9)),
    "truncated": st_bytes('{"w":' + T + "}", bytes(7)),
    "128 levels deep": st_bytes('{"w":{"x":' + "[" * 126 + "]" * 126 + ',"dtype":"U8","shape":[],'
                                '"data_offsets":[0,1]}}', bytes(1)),
    "repeated field": st_bytes('{"w":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
                               bytes(8)),
    "metadata twice": st_bytes('{"__metadata__":{},"__metadata__":{}}'),
    "metadata object value": st_bytes('{"__metadata__":{"a":{}}}'),
    "byte order mark": st_bytes(b"\xef\xbb\xbf{}"),
    "form feed": st_bytes("\x0c{}"),
}
ACCEPT = {
    "padded": st_bytes('{"w":' + T + "}      ", bytes(8)),
    "leading space": st_bytes('  {"w":' + T + "}", bytes(8)),
    "null metadata": st_bytes('{"__metadata__":null,"w":' + T + "}", bytes(8)),
    "extra field": st_bytes('{"w":{"x":[1,{"y":null}],"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
                            bytes(8)),
    "escaped name": st_bytes('{"\\u00e9\\ud83d\\ude00\\n":' + T + "}", bytes(8)),
    "empty": st_bytes("{}"),
    "zero-size": st_bytes('{"w":{"dtype":"F32","shape":[0,1099511627776],"data_offsets":[0,0]}}'),
    "rank 0": st_bytes('{"w":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}', bytes(8)),
    "out of order": st_bytes('{"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},'
                             '"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', bytes(2)),
    "127 levels deep": st_bytes('{"w":{"x":' + "[" * 125 + "]" * 125 + ',"dtype":"U8","shape":[],'
                                '"data_offsets":[0,1]}}', bytes(1)),
    "tab and newline": st_bytes("\t{}\r\n"),
    "empty name": st_bytes('{"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', bytes(1)),
    "newer dtypes": st_bytes('{"a":{"dtype":"F4","shape":[4],"data_offsets":[0,2]},'
                             '"b":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[2,5]},'
                             '"c":{"dtype":"F8_E8M0","shape":[1],"data_offsets":[5,6]},'
                             '"d":{"dtype":"F8_E4M3FNUZ","shape":[1],"data_offsets":[6,7]},'
                             '"e":{"dtype":"F8_E5M2FNUZ","shape":[1],"data_offsets":[7,8]},'
                             '"f":{"dtype":"C64","shape":[1],"data_offsets":[8,16]}}', bytes(16)),
}
# Where weft is stricter than the reference on purpose: the reference keeps the last of a
# repeated key, takes dims up to 2^64-1 when another dim is 0, and allows U+0000 in names.
STRICTER = {
    "repeated name": st_bytes('{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                              '"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', bytes(1)),
    "repeated metadata key": st_bytes('{"__metadata__":{"a":"1","a":"2"}}'),
    "dim of 2^63 in an empty tensor": st_bytes('{"w":{"dtype":"F32","shape":[9223372036854775808,0],'
                                               '"data_offsets":[0,0]}}'),
    "U+0000 in a name": st_bytes('{"a\\u0000b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
                                 bytes(1)),
}


def library_accepts(path):
    """The library's parser verdict: safe_open validates the whole header; no tensor is
    materialized (numpy has no F4 or F8_E8M0)."""
    try:
        with safe_open(path, framework="pt") as f:
            for k in f.keys():
                f.get_slice(k).get_shape()
        return True
    except Exception:  # SafetensorError, or another exception type for some inputs
        return False


def weft_accepts(path):
    r = subprocess.run([ST_DUMP, "check", path], capture_output=True)
    check(r.returncode in (0, 2), f"st_dump check {path}: exit {r.returncode} {r.stderr!r}")
    return r.returncode == 0, r.stdout.decode("utf-8", "replace").strip()


def test_agreement(tmp):
    for group, cases, want in (("reject", REJECT, False), ("accept", ACCEPT, True)):
        for name, data in cases.items():
            path = os.path.join(tmp, f"case_{group}_{len(data)}_{abs(hash(name))}.safetensors")
            with open(path, "wb") as f:
                f.write(data)
            lib = library_accepts(path)
            ours, msg = weft_accepts(path)
            check(lib == want, f"{name}: the library {'accepts' if lib else 'rejects'} it (expected {group})")
            check(ours == want, f"{name}: weft {'accepts' if ours else 'rejects'} it: {msg}")
    for name, data in STRICTER.items():
        path = os.path.join(tmp, "stricter.safetensors")
        with open(path, "wb") as f:
            f.write(data)
        ours, msg = weft_accepts(path)
        check(not ours, f"{name}: weft accepts it")
        print(f"note: {name}: library {'accepts' if library_accepts(path) else 'rejects'}; weft: {msg}")


def main():
    with tempfile.TemporaryDirectory(prefix="wf_st_interop_") as tmp:
        for test in (test_library_writes_weft_reads, test_weft_writes_library_reads, test_sharded,
                     test_agreement):
            before = len(failures)
            test(tmp)
            print(f"{test.__name__}: {'ok' if len(failures) == before else 'FAILED'}")
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("interop safetensors: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
