#!/usr/bin/python3
"""Export a sentence-transformers BERT model directory to ONNX (for the ONNX Runtime peer benchmark).

The graph is the PyTorch reference of tools/reference/bert_ref.py (same safetensors, same modules), exported with
torch.onnx.export. Inputs: input_ids, attention_mask, token_type_ids (int64, [batch, sequence], both axes dynamic).
Output: last_hidden_state (float32 [batch, sequence, hidden]). With --sentence-out a second graph also returns
sentence_embedding = pooling (+ Normalize when modules.json lists it), as sentence-transformers computes it.

Verification (always run unless --no-verify): onnx.checker (full check with shape inference), then the graph is
executed with a small numpy ONNX evaluator (tools/reference/onnx_np_eval.py; onnx 1.12 has no onnx.reference) on
padded batches and compared with bert_ref.py.

  /usr/bin/python3 tools/export_onnx.py --model DIR --out model.onnx [--sentence-out model-sentence.onnx] [--opset 14]
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "reference"))
import bert_ref  # noqa: E402
import onnx_np_eval  # noqa: E402

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


class HiddenGraph(nn.Module):
    def __init__(self, sm):
        super().__init__()
        self.bert = sm.bert

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.bert(input_ids, attention_mask, token_type_ids)


class SentenceGraph(nn.Module):
    def __init__(self, sm):
        super().__init__()
        self.bert = sm.bert
        self.pooling = sm.pooling
        self.normalize = sm.normalize

    def forward(self, input_ids, attention_mask, token_type_ids):
        hidden = self.bert(input_ids, attention_mask, token_type_ids)
        pooled = bert_ref.pool(hidden, attention_mask, self.pooling)
        emb = F.normalize(pooled, p=2, dim=1) if self.normalize else pooled
        return hidden, emb


def export(module, path, outputs, opset):
    # Trace with a padded batch of 2 (the batch and sequence sizes become dynamic axes).
    v = module.bert.config["vocab_size"]
    dummy = (torch.tensor([[1, 2 % v, 3 % v, 0], [1, 4 % v, 0, 0]], dtype=torch.long),
             torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.long), torch.zeros((2, 4), dtype=torch.long))
    axes = {n: {0: "batch", 1: "sequence"} for n in INPUTS}
    axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
    if "sentence_embedding" in outputs:
        axes["sentence_embedding"] = {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(module, dummy, path, input_names=INPUTS, output_names=outputs, dynamic_axes=axes,
                          opset_version=opset, do_constant_folding=True)


def verify(sm, path, outputs, n_cases=6, seed=0):
    """onnx.checker + numerical comparison with bert_ref on padded batches. Returns max |Δ| per output."""
    import onnx
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    rng = np.random.default_rng(seed)
    cfg = sm.config
    lens = [2, 3] + [int(rng.integers(2, sm.max_seq_length + 1)) for _ in range(n_cases - 2)]
    lens = [min(n, 48) if i < n_cases - 1 else n for i, n in enumerate(lens)]  # keep the numpy run quick
    t = max(lens)
    ids = np.zeros((len(lens), t), np.int64)
    mask = np.zeros((len(lens), t), np.int64)
    for r, n in enumerate(lens):
        ids[r, :n] = rng.integers(1, cfg["vocab_size"], n)
        mask[r, :n] = 1
    ids[mask == 0] = 0
    tt = np.zeros_like(ids)
    got = onnx_np_eval.run(model, {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt})
    hid, _, emb = sm.forward_padded(torch.from_numpy(ids), torch.from_numpy(mask))
    res = {}
    real = mask.astype(bool)
    res["last_hidden_state (real tokens)"] = float(np.abs(got["last_hidden_state"][real] - hid.numpy()[real]).max())
    if "sentence_embedding" in outputs:
        res["sentence_embedding"] = float(np.abs(got["sentence_embedding"] - emb.numpy()).max())
    # token_type_ids are a real input of the graph: non-zero types must match the reference too.
    tt = rng.integers(0, cfg["type_vocab_size"], ids.shape).astype(np.int64)
    got = onnx_np_eval.run(model, {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt})
    with torch.no_grad():
        hid = sm.bert(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(tt)).numpy()
    res["last_hidden_state, random token types"] = float(np.abs(got["last_hidden_state"][real] - hid[real]).max())
    return res, sorted({n.op_type for n in model.graph.node})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="model directory (config.json, model.safetensors, ...)")
    ap.add_argument("--out", required=True, help="ONNX file with output last_hidden_state")
    ap.add_argument("--sentence-out", help="optional ONNX file with outputs last_hidden_state, sentence_embedding")
    ap.add_argument("--opset", type=int, default=14, choices=range(14, 18))
    ap.add_argument("--no-verify", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    try:
        sm = bert_ref.SentenceModel(a.model)
    except (bert_ref.ModelError, bert_ref.safetensors_np.SafetensorsError) as e:
        print(f"export_onnx: error: {e}", file=sys.stderr)
        return 2
    jobs = [(HiddenGraph(sm).eval(), a.out, ["last_hidden_state"])]
    if a.sentence_out:
        jobs.append((SentenceGraph(sm).eval(), a.sentence_out, ["last_hidden_state", "sentence_embedding"]))
    ok = True
    for module, path, outputs in jobs:
        export(module, path, outputs, a.opset)
        print(f"wrote {path} ({os.path.getsize(path)} bytes, opset {a.opset})")
        if not a.no_verify:
            res, ops = verify(sm, path, outputs)
            print(f"  onnx.checker: ok; ops: {' '.join(ops)}")
            for k, v in res.items():
                print(f"  numpy evaluation vs bert_ref, {k}: max|d| = {v:.3g}")
                ok &= v <= 1e-4
    if not ok:
        print("export_onnx: error: exported graph disagrees with bert_ref beyond 1e-4", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
