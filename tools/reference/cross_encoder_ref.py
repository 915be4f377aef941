#!/usr/bin/python3
"""Independent PyTorch reference of sentence-transformers' CrossEncoder over a Hugging Face
BertForSequenceClassification directory. Written from the published definitions, not from the C# engine:

  * model (transformers' BertForSequenceClassification, eval mode, float32, CPU, one thread): bert_ref.BertModel
    (embeddings with token_type_ids, post-norm layers, HF's additive padding mask) -> BertPooler
    (tanh(Linear(hidden[:, 0]))) -> dropout (identity) -> classifier Linear(hidden, num_labels);
    weights by HF names: bert.embeddings.*, bert.encoder.*, bert.pooler.dense.*, classifier.*; the
    bert.embeddings.position_ids buffer is accepted; any other tensor, a missing one or a wrong shape is an error;
  * num_labels: len(id2label) when config.json has it, else num_labels, else 2 (PretrainedConfig's default);
  * activation (CrossEncoder.get_default_activation_fn): config.json sentence_transformers.activation_fn, else
    sbert_ce_default_activation_function, else Sigmoid for one label and Identity otherwise; only torch.* paths
    are honoured (others fall back to the default, as without trust_remote_code);
  * pair encoding (BertTokenizerFast called with truncation="longest_first", max_length): each text str.strip()-ed,
    wordpieces from hf_tokenizer.Reference, [CLS] a [SEP] b [SEP], token_type_ids 0 for [CLS] a [SEP] and 1 for
    b [SEP]; truncation by the tokenizers library's truncate_encodings (LongestFirst) with
    max_length - 3 (the added special tokens): s = shorter, l = longer length; when s + l exceeds the budget B,
    l keeps max(s, B - s) (s when s > B); if still over, both get B // 2 and the longer one (the second on a tie)
    B // 2 + B % 2; right truncation;
  * max_length: tokenizer_config.json model_max_length capped by max_position_embeddings unless given;
  * predict: batches padded to their longest pair (pad id 0, attention 0, token type 0), activation applied.

CLI: cross_encoder_ref.py --model DIR --pairs PAIRS.json [--max-length N] [--output OUT.json] [--self-check]
PAIRS.json: [[a, b], ...]. OUT.json: {"ids", "token_type_ids", "logits", "scores", "activation", "num_labels"}.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_ref  # noqa: E402
import hf_tokenizer  # noqa: E402
import safetensors_np  # noqa: E402

torch.set_num_threads(1)

ACTIVATIONS = {
    "torch.nn.modules.linear.Identity": nn.Identity,
    "torch.nn.modules.activation.Sigmoid": nn.Sigmoid,
    "torch.nn.modules.activation.Tanh": nn.Tanh,
}


def longest_first(n1, n2, budget):
    """Kept lengths of a pair of token lists (tokenizers' truncate_encodings, LongestFirst)."""
    if n1 + n2 <= budget:
        return n1, n2
    swap = n1 > n2
    short, long_ = (n2, n1) if swap else (n1, n2)
    keep_short = short
    keep_long = short if short > budget else max(short, budget - short)
    if keep_short + keep_long > budget:
        keep_short = budget // 2
        keep_long = keep_short + budget % 2
    keep_short, keep_long = min(keep_short, short), min(keep_long, long_)
    return (keep_long, keep_short) if swap else (keep_short, keep_long)


class BertPooler(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.dense = nn.Linear(h, h)

    def forward(self, hidden):
        return torch.tanh(self.dense(hidden[:, 0]))


class BertForSequenceClassification(nn.Module):
    def __init__(self, cfg, num_labels):
        super().__init__()
        self.bert = bert_ref.BertModel(cfg)
        self.pooler = BertPooler(cfg["hidden_size"])
        self.classifier = nn.Linear(cfg["hidden_size"], num_labels)

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.classifier(self.pooler(self.bert(input_ids, attention_mask, token_type_ids)))


def num_labels_of(cfg):
    if cfg.get("id2label") is not None:
        return len(cfg["id2label"])
    return int(cfg.get("num_labels", 2))


def activation_of(cfg, num_labels):
    path = None
    st = cfg.get("sentence_transformers")
    if isinstance(st, dict) and "activation_fn" in st:
        path = st["activation_fn"]
    elif cfg.get("sbert_ce_default_activation_function") is not None:
        path = cfg["sbert_ce_default_activation_function"]
    if path is not None and path.startswith("torch."):
        return path, ACTIVATIONS[path]()
    default = "torch.nn.modules.activation.Sigmoid" if num_labels == 1 else "torch.nn.modules.linear.Identity"
    return default, ACTIVATIONS[default]()


class CrossEncoderRef:
    def __init__(self, model_dir, max_length=None):
        cfg = bert_ref._read_json(os.path.join(model_dir, "config.json"), "config.json")
        cfg.setdefault("layer_norm_eps", 1e-12)
        cfg.setdefault("type_vocab_size", 2)
        cfg.setdefault("hidden_act", "gelu")
        self.config = cfg
        self.num_labels = num_labels_of(cfg)
        self.activation_name, self.activation = activation_of(cfg, self.num_labels)
        tok_cfg_path = os.path.join(model_dir, "tokenizer_config.json")
        tok_cfg = bert_ref._read_json(tok_cfg_path, "tokenizer_config.json") if os.path.exists(tok_cfg_path) else {}
        limit = cfg["max_position_embeddings"]
        self.max_length = max_length if max_length is not None else min(int(tok_cfg.get("model_max_length", limit)), limit)
        self.tok = hf_tokenizer.Reference(os.path.join(model_dir, "vocab.txt"), lower=tok_cfg.get("do_lower_case", True))
        self.model = BertForSequenceClassification(cfg, self.num_labels).eval()
        self._load(os.path.join(model_dir, "model.safetensors"))

    def _load(self, path):
        raw = safetensors_np.load(path)
        raw.pop("bert.embeddings.position_ids", None)
        expected = {"bert." + n: s for n, s in bert_ref._expected_shapes(self.config).items()}
        h = self.config["hidden_size"]
        expected.update({"bert.pooler.dense.weight": (h, h), "bert.pooler.dense.bias": (h,),
                         "classifier.weight": (self.num_labels, h), "classifier.bias": (self.num_labels,)})
        missing = sorted(set(expected) - set(raw))
        extra = sorted(set(raw) - set(expected))
        if missing or extra:
            raise bert_ref.ModelError(f"model.safetensors: missing {missing[:5]}, unexpected {extra[:5]}")
        for n, shape in expected.items():
            if tuple(raw[n].shape) != shape:
                raise bert_ref.ModelError(f"model.safetensors: '{n}' has shape {list(raw[n].shape)}, expected {list(shape)}")
        state = {}
        for n in expected:
            # HF keeps the pooler inside BertModel (bert.pooler.*); this module tree holds it beside bert.
            own = n[len("bert."):] if n.startswith("bert.pooler.") else n
            state[own] = torch.from_numpy(np.ascontiguousarray(raw[n], dtype=np.float32))
        self.model.load_state_dict(state, strict=True)

    def encode_pair(self, a, b):
        ta, tb = self.tok.tokenize_ids(a.strip()), self.tok.tokenize_ids(b.strip())
        assert self.max_length >= 3
        na, nb = longest_first(len(ta), len(tb), self.max_length - 3)
        ids = [self.tok.cls_id] + ta[:na] + [self.tok.sep_id] + tb[:nb] + [self.tok.sep_id]
        types = [0] * (na + 2) + [1] * (nb + 1)
        return ids, types

    @torch.no_grad()
    def logits(self, encoded, batch_size=8):
        out = []
        for s in range(0, len(encoded), batch_size):
            batch = encoded[s:s + batch_size]
            t = max(len(ids) for ids, _ in batch)
            ids_t = torch.zeros((len(batch), t), dtype=torch.long)
            types_t = torch.zeros((len(batch), t), dtype=torch.long)
            mask = torch.zeros((len(batch), t), dtype=torch.long)
            for r, (ids, types) in enumerate(batch):
                ids_t[r, :len(ids)] = torch.tensor(ids)
                types_t[r, :len(ids)] = torch.tensor(types)
                mask[r, :len(ids)] = 1
            out.append(self.model(ids_t, mask, types_t))
        return torch.cat(out)

    def predict(self, pairs, batch_size=8):
        encoded = [self.encode_pair(a, b) for a, b in pairs]
        logits = self.logits(encoded, batch_size)
        return encoded, logits, self.activation(logits)


def self_check(ref, pairs):
    """Batched (padded) vs one at a time, and float32 vs float64 modules; returns the max |delta| of each."""
    encoded = [ref.encode_pair(a, b) for a, b in pairs]
    batched = ref.logits(encoded, batch_size=len(encoded))
    single = torch.cat([ref.logits([e], 1) for e in encoded])
    d_batch = float((batched - single).abs().max())
    ref.model.double()
    try:
        d64 = float((ref.logits(encoded, 8).float() - single).abs().max())
    finally:
        ref.model.float()
    assert d_batch <= 1e-5, d_batch
    assert d64 <= 1e-4, d64
    assert longest_first(4, 4, 4) == (2, 2) and longest_first(4, 4, 5) == (2, 3) and longest_first(8, 4, 4) == (2, 2)
    # The tokenizers library's own test table (max_length 7): (n1, n2) -> kept.
    table = {(0, 8): (0, 7), (2, 8): (2, 5), (4, 4): (3, 4), (4, 8): (3, 4), (8, 2): (5, 2), (8, 4): (4, 3), (8, 8): (3, 4),
             (2, 4): (2, 4), (4, 2): (4, 2), (8, 0): (7, 0)}
    for (n1, n2), kept in table.items():
        assert longest_first(n1, n2, 7) == kept, (n1, n2, longest_first(n1, n2, 7), kept)
    return d_batch, d64


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--max-length", type=int)
    ap.add_argument("--output")
    ap.add_argument("--self-check", action="store_true")
    a = ap.parse_args(argv)
    ref = CrossEncoderRef(a.model, a.max_length)
    with open(a.pairs, encoding="utf-8") as f:
        pairs = json.load(f)
    if a.self_check:
        print("self-check max |delta| batched vs single %.3g, float32 vs float64 %.3g" % self_check(ref, pairs))
    encoded, logits, scores = ref.predict(pairs)
    doc = {"ids": [e[0] for e in encoded], "token_type_ids": [e[1] for e in encoded],
           "logits": logits.tolist(), "scores": scores.tolist(), "activation": ref.activation_name,
           "num_labels": ref.num_labels}
    text = json.dumps(doc)
    if a.output:
        with open(a.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
