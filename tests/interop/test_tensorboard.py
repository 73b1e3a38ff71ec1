"""TensorBoard interop: event files written by weft (through tests/tools/tb_write) read with
TensorBoard's own code.

1. The file name matches events.out.tfevents.<10-digit secs>.<host>.<pid>.<n>.
2. Every record's framing and both masked CRC-32Cs checked with TensorBoard's record code, every
   record parsed as an Event proto; the first is file_version "brain.Event:2".
3. EventAccumulator (size_guidance 0 = keep everything) sees exactly the scalar tags written, each
   with every step in order and the value tb_write reports (float32, so compared exactly in float32),
   and the text entries as text-plugin tensors whose strings come back byte for byte and render
   through the text plugin's own markdown path.
Usage: test_tensorboard.py PATH/TO/tb_write. Exit 0 pass, 1 fail, 77 skip.
"""
import glob
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
    from tensorboard.plugins.text import text_plugin
    from tensorboard.util import tensor_util
except ImportError as e:  # the pinned venv carries tensorboard; without it there is nothing to check
    print(f"SKIP: tensorboard missing: {e}")
    sys.exit(77)

TB_WRITE = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        if len(failures) <= 20:
            print("FAIL", what)


def raw_records(path):
    """Every record of the file, framing and CRCs checked the way TensorBoard's reader does."""
    data = open(path, "rb").read()
    pos, out = 0, []
    while pos < len(data):
        head = data[pos:pos + 8]
        (n,) = struct.unpack("<Q", head)
        (hcrc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        body = data[pos + 12:pos + 12 + n]
        (bcrc,) = struct.unpack("<I", data[pos + 12 + n:pos + 16 + n])
        check(hcrc == masked_crc32c(head), f"record {len(out)}: length crc")
        check(len(body) == n and bcrc == masked_crc32c(body), f"record {len(out)}: data crc")
        out.append(event_pb2.Event.FromString(body))
        pos += 16 + n
    return out


def main():
    with tempfile.TemporaryDirectory() as tmp:
        run = os.path.join(tmp, "run")
        r = subprocess.run([TB_WRITE, run], capture_output=True)
        if r.returncode != 0:
            print("FAIL tb_write:", r.stderr.decode(errors="replace"))
            return 1
        lines = [json.loads(line) for line in r.stdout.decode().splitlines()]
        path = lines[-1]["file"]
        scalars = [x for x in lines if "value" in x]
        texts = [x for x in lines if "text" in x]

        files = glob.glob(os.path.join(run, "*tfevents*"))
        check(files == [path], f"one event file, got {files}")
        check(re.fullmatch(r"events\.out\.tfevents\.\d{10}\.[^/]+\.\d+\.\d+", os.path.basename(path)),
              f"file name {os.path.basename(path)}")

        events = raw_records(path)
        check(len(events) == 1 + len(scalars) + len(texts),
              f"{len(events)} records, expected {1 + len(scalars) + len(texts)}")
        check(events and events[0].file_version == "brain.Event:2", "first event is the version")
        check(all(e.wall_time > 1.6e9 for e in events), "wall times are unix seconds")

        acc = ea.EventAccumulator(run, size_guidance={k: 0 for k in ea.DEFAULT_SIZE_GUIDANCE})
        acc.Reload()
        tags = acc.Tags()
        want_tags = sorted({x["tag"] for x in scalars})
        check(sorted(tags["scalars"]) == want_tags, f"scalar tags {tags['scalars']} != {want_tags}")
        for tag in [t for t in want_tags if t in tags["scalars"]]:
            want = [(x["step"], x["value"]) for x in scalars if x["tag"] == tag]
            got = [(e.step, e.value) for e in acc.Scalars(tag)]
            check(len(got) == len(want), f"{tag}: {len(got)} points, expected {len(want)}")
            for (ws, wv), (gs, gv) in zip(want, got):
                check(gs == ws and np.float32(gv) == np.float32(wv),
                      f"{tag}: step {gs} value {gv!r}, expected step {ws} value {wv!r}")

        check(sorted(tags["tensors"]) == sorted(x["tag"] for x in texts),
              f"tensor tags {tags['tensors']}")
        for x in [x for x in texts if x["tag"] in tags["tensors"]]:
            evs = acc.Tensors(x["tag"])
            check(len(evs) == 1 and evs[0].step == x["step"], f"{x['tag']}: events {evs}")
            meta = acc.SummaryMetadata(x["tag"])
            check(meta.plugin_data.plugin_name == "text", f"{x['tag']}: plugin {meta}")
            arr = tensor_util.make_ndarray(evs[0].tensor_proto)
            check(arr.shape == () and arr.item().decode("utf-8") == x["text"],
                  f"{x['tag']}: text {arr!r}, expected {x['text']!r}")
            html = text_plugin.text_array_to_html(arr, enable_markdown=True)
            check(x["tag"] != "config" or "<table>" in html, f"config renders as a table: {html}")

    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print(f"tensorboard interop: {len(scalars)} scalars, {len(texts)} texts read back")
    return 0


if __name__ == "__main__":
    sys.exit(main())
