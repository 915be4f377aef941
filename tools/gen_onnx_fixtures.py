#!/usr/bin/python3
"""Generate the small ONNX fixtures of the `membed model import` tests (tests/fixtures/onnx/).

For each tiny config (tests/fixtures/onnx/tiny-*-config.json, vocabulary tiny-vocab.txt):
  1. `membed model synth` writes a seeded synthetic model directory (the C# tests regenerate the same weights with
     SyntheticModel.WriteWeights and compare every imported tensor with them exactly);
  2. tools/export_onnx.py exports it with torch.onnx.export (and verifies the graph against bert_ref.py).
Then it derives malformed variants of tiny-gelu-opset14.onnx with the onnx package (see BAD below).

  dotnet build src/ManagedEmbed.Cli -c Release
  /usr/bin/python3 tools/gen_onnx_fixtures.py --membed src/ManagedEmbed.Cli/bin/Release/net10.0/membed
"""
import argparse
import os
import subprocess
import sys
import tempfile

import onnx
from onnx import helper, TensorProto

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIX = os.path.join(ROOT, "tests", "fixtures", "onnx")

# name, seed, synth options, opset. gelu with the default eps and decomposed LayerNorm (opset 14); gelu_new with
# eps 1e-7 and native LayerNormalization (opset 17); relu with eps 1e-5, 8 heads of width 3, 3 layers.
MODELS = [
    ("tiny-gelu", 11, ["--pooling", "mean", "--max-seq-length", "40"], 14),
    ("tiny-gelu-new", 12, ["--pooling", "cls", "--max-seq-length", "24"], 17),
    ("tiny-relu", 13, ["--pooling", "max", "--max-seq-length", "32", "--no-normalize"], 14),
]


def node_by_output(g, name):
    return next(n for n in g.node if name in n.output)


def bad_variants(src):
    out = {}
    base = onnx.load(src)

    # 1. Wrong wiring: the query bias is added to the key projection's output (so that MatMul output feeds two biases).
    m = onnx.ModelProto(); m.CopyFrom(base)
    g = m.graph
    q_add = next(n for n in g.node if n.op_type == "Add" and any(i.endswith("layer.0.attention.self.query.bias") for i in n.input))
    k_add = next(n for n in g.node if n.op_type == "Add" and any(i.endswith("layer.0.attention.self.key.bias") for i in n.input))
    k_mm = next(i for i in k_add.input if not i.endswith(".bias"))
    for j, i in enumerate(q_add.input):
        if not i.endswith(".bias"):
            q_add.input[j] = k_mm
    out["bad-wiring"] = m

    # 2. A weight that is no BERT encoder parameter (an MLM head bias): must be refused, not dropped.
    m = onnx.ModelProto(); m.CopyFrom(base)
    m.graph.initializer.append(helper.make_tensor("bert.cls.predictions.bias", TensorProto.FLOAT, [80], [0.5] * 80))
    out["bad-unknown-tensor"] = m

    # 3. External data: a tensor whose bytes live in another file.
    m = onnx.ModelProto(); m.CopyFrom(base)
    t = next(t for t in m.graph.initializer if t.name.endswith("embeddings.LayerNorm.weight"))
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add(); e.key = "location"; e.value = "weights.bin"
    out["bad-external"] = m

    # 4. An activation that is none of gelu/gelu_new/relu: Erf replaced by Sigmoid in layer 1.
    m = onnx.ModelProto(); m.CopyFrom(base)
    erf = [n for n in m.graph.node if n.op_type == "Erf"][1]
    erf.op_type = "Sigmoid"
    out["bad-activation"] = m

    # 5. No constant head count: the head-splitting Reshapes and the attention scale take graph inputs instead, so
    #    num_attention_heads can only come from a config.json (valid graph otherwise).
    m = onnx.ModelProto(); m.CopyFrom(base)
    g = m.graph
    g.input.append(helper.make_tensor_value_info("heads_shape", TensorProto.INT64, [4]))
    g.input.append(helper.make_tensor_value_info("attention_scale", TensorProto.FLOAT, []))
    for n in g.node:
        if n.op_type == "Reshape" and "/attention/self/" in n.output[0] and len(n.input) == 2:
            prod = node_by_output(g, n.input[1])
            if prod.op_type == "Concat" and len(prod.input) == 4:
                n.input[1] = "heads_shape"
        if n.op_type == "Div" and "/attention/self/" in n.output[0]:
            n.input[1] = "attention_scale"
    out["no-heads"] = m
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--membed", required=True)
    a = ap.parse_args()
    vocab = os.path.join(FIX, "tiny-vocab.txt")
    with tempfile.TemporaryDirectory() as tmp:
        for name, seed, opts, opset in MODELS:
            d = os.path.join(tmp, name)
            subprocess.run([a.membed, "model", "synth", "--config", os.path.join(FIX, name + "-config.json"), "--vocab", vocab,
                            "--seed", str(seed), *opts, "--out", d], check=True)
            subprocess.run([sys.executable, os.path.join(HERE, "export_onnx.py"), "--model", d,
                            "--out", os.path.join(FIX, f"{name}-opset{opset}.onnx"), "--opset", str(opset)], check=True)
    for name, m in bad_variants(os.path.join(FIX, "tiny-gelu-opset14.onnx")).items():
        path = os.path.join(FIX, f"tiny-gelu-{name}.onnx")
        onnx.save(m, path)
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    total = sum(os.path.getsize(os.path.join(FIX, f)) for f in os.listdir(FIX))
    print(f"tests/fixtures/onnx: {total} bytes")
    assert total < 2_000_000, "fixtures must stay small"


if __name__ == "__main__":
    main()
