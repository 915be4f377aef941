#!/usr/bin/python3
"""Writes tests/fixtures/int8/int8-synth.json: an independent reference for int8 Linear weights with dynamic per-row
activation quantization, on a small seeded synthetic BERT.

The scheme, from its description (README "int8 weights"), not from the C# code:
  weights, per output channel j:  s_j = max|W[j,:]| / 127 (float32),  q = clip(rint(W / s_j), -127, 127)
  activations, per row i (token): t_i = max|x[i,:]| / 127 (float32),  p = clip(rint(x / t_i), -127, 127)
  (rint rounds half to even; a zero row has scale 0 and codes 0)
  y[i,j] = (sum_k p[i,k] q[j,k]) * t_i * s_j + b_j  (integer sum exact in int64, the rest in float64)
Every nn.Linear of the encoder (query, key, value, attention output, intermediate, output) runs this way; embeddings,
LayerNorm, attention softmax and pooling stay float32 (tools/reference/bert_ref.py, PyTorch).

Steps: `membed model synth` writes the float model; `membed model quantize` writes its int8 copy, whose I8 codes and
F32 scales must equal this script's numpy quantization exactly (else the generator fails); the reference then encodes
the texts with the float model and with the int8 scheme. The fixture records both embeddings and both SHA-256s.
  tools/gen_int8_fixtures.py --membed PATH/membed --work /tmp/int8-fixture
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "reference"))
import bert_ref  # noqa: E402
import fixture_texts  # noqa: E402
import gen_fixtures  # noqa: E402
import safetensors_np  # noqa: E402

SPEC = {"name": "int8-synth", "config": "repo:weights/synth/tiny-gelu-config.json",
        "vocab": "shared:models/all-MiniLM-L6-v2/vocab.txt", "seed": 21, "pooling": "mean", "max_seq_length": 48,
        "normalize": True}


def quantize_rows(a):
    """Symmetric per-row int8 codes (int64) and float32 scales of a 2-D float32 array."""
    a = np.asarray(a, dtype=np.float32)
    scale = (np.abs(a).max(axis=1) / np.float32(127)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(a / safe[:, None]), -127, 127).astype(np.int64)
    q[scale == 0] = 0
    return q, scale


class Int8Linear(nn.Module):
    """nn.Linear with int8 weights and dynamic per-row int8 activations (see the module docstring)."""

    def __init__(self, linear):
        super().__init__()
        self.q, self.s = quantize_rows(linear.weight.detach().numpy())
        self.b = linear.bias.detach().numpy().astype(np.float64)

    def forward(self, x):
        shape = x.shape
        x2 = x.detach().numpy().reshape(-1, shape[-1])
        p, t = quantize_rows(x2)
        acc = p @ self.q.T  # int64: exact
        y = acc.astype(np.float64) * (t.astype(np.float64)[:, None] * self.s.astype(np.float64)[None, :]) + self.b
        return torch.from_numpy(y.astype(np.float32)).reshape(*shape[:-1], -1)


def to_int8(model):
    """Replaces every nn.Linear of the encoder by its Int8Linear twin; returns how many."""
    n = 0
    for layer in model.bert.encoder.layer:
        for parent, name in [(layer.attention.self, "query"), (layer.attention.self, "key"), (layer.attention.self, "value"),
                             (layer.attention.output, "dense"), (layer.intermediate, "dense"), (layer.output, "dense")]:
            setattr(parent, name, Int8Linear(getattr(parent, name)))
            n += 1
    return n


def check_quantized_file(float_path, int8_path):
    """The int8 file membed wrote: every float Linear weight replaced by exactly our codes and scales; rest unchanged."""
    f = safetensors_np.load(float_path)
    q = safetensors_np.load(int8_path)
    linear = [n for n in f if n.startswith("encoder.") and n.endswith(".weight") and f[n].ndim == 2]
    if len(linear) == 0:
        raise SystemExit("gen_int8_fixtures: no Linear weights found")
    for n, arr in f.items():
        if n in linear:
            codes, scales = quantize_rows(arr)
            if not np.array_equal(q[n], codes):
                raise SystemExit(f"gen_int8_fixtures: {n}: membed's codes differ from the reference's "
                                 f"({int((q[n] != codes).sum())} of {codes.size})")
            if not np.array_equal(q[n + "_scale"], scales):
                raise SystemExit(f"gen_int8_fixtures: {n}_scale differs from the reference's")
        elif not np.array_equal(q[n], arr):
            raise SystemExit(f"gen_int8_fixtures: {n} changed in the int8 file")
    extra = set(q) - set(f) - {n + "_scale" for n in linear}
    if extra:
        raise SystemExit(f"gen_int8_fixtures: unexpected tensors {sorted(extra)}")
    return len(linear)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--membed", required=True, help="path of the built membed executable")
    ap.add_argument("--shared", default=os.path.join(REPO, "..", "shared"), help="the ../shared directory")
    ap.add_argument("--work", required=True, help="scratch directory")
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "int8", "int8-synth.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    float_dir, int8_dir = os.path.join(a.work, "float"), os.path.join(a.work, "int8")
    gen_fixtures.synth(a.membed, SPEC, a.shared, float_dir)
    subprocess.run([a.membed, "model", "quantize", "--model", float_dir, "--out", int8_dir], check=True)
    float_st, int8_st = os.path.join(float_dir, "model.safetensors"), os.path.join(int8_dir, "model.safetensors")
    nq = check_quantized_file(float_st, int8_st)

    model = bert_ref.SentenceModel(float_dir)
    texts = fixture_texts.ODD_TEXTS
    ids = gen_fixtures.tokenize(texts, float_dir, SPEC["max_seq_length"])
    _, emb_float = model.encode(ids, batch_size=8)
    if to_int8(model) != nq:
        raise SystemExit("gen_int8_fixtures: the reference and the file disagree on the number of Linear weights")
    _, emb_int8 = model.encode(ids, batch_size=8)
    cos = (emb_float * emb_int8).sum(axis=1)
    print(f"reference int8 vs float cosine: min {cos.min():.6f} mean {cos.mean():.6f}; "
          f"max |diff| {np.abs(emb_float - emb_int8).max():.3g}")

    def f32(v):
        return [float(np.float32(x)) for x in v]

    info = dict(SPEC)
    info["safetensors_sha256"] = gen_fixtures.sha256(float_st)
    info["int8_safetensors_sha256"] = gen_fixtures.sha256(int8_st)
    info["quantized_tensors"] = nq
    cases = [{"text": t, "ids": x, "embedding_float": f32(ef), "embedding_int8": f32(ei)}
             for t, x, ef, ei in zip(texts, ids, emb_float, emb_int8)]
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(gen_fixtures.fixture_json(info, cases))
    print(f"wrote {a.out} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
