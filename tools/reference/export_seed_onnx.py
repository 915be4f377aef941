#!/usr/bin/python3
"""Export an MPNet or DistilBERT sentence-transformers directory to ONNX for the ONNX Runtime peer benchmark.

The graph is the independent PyTorch reference of seed_models_ref.py on the directory's own weights, traced with
torch.onnx.export (inputs input_ids, attention_mask: int64 [batch, sequence], both axes dynamic; output
last_hidden_state). onnx.checker validates the file; numerical agreement with ManagedEmbed is what PeerBench's
"max abs diff" column reports, at every benchmarked shape (so a shape frozen into the trace would show there).

  /usr/bin/python3 tools/reference/export_seed_onnx.py --model DIR --out model.onnx [--opset 14]
"""
import argparse
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed_models_ref  # noqa: E402


class HiddenGraph(nn.Module):
    def __init__(self, sm):
        super().__init__()
        self.net = sm.net

    def forward(self, input_ids, attention_mask):
        return self.net(input_ids, attention_mask)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--opset", type=int, default=14)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    sm = seed_models_ref.SentenceModel(a.model)
    g = HiddenGraph(sm).eval()
    pad = sm.pad_id
    dummy = (torch.tensor([[0, 5, 6, 2], [0, 7, 2, pad]], dtype=torch.long), torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.long))
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            "last_hidden_state": {0: "batch", 1: "sequence"}}
    with torch.no_grad():
        torch.onnx.export(g, dummy, a.out, input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                          dynamic_axes=axes, opset_version=a.opset, do_constant_folding=True)
    import onnx
    m = onnx.load(a.out)
    onnx.checker.check_model(m, full_check=True)
    print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes, opset {a.opset}, {sm.model_type}); onnx.checker: ok; ops: "
          + " ".join(sorted({n.op_type for n in m.graph.node})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
