#!/usr/bin/python3
"""Independent PyTorch reference for a sentence-transformers BERT model directory.

Mirrors the Hugging Face BertModel module structure (eager attention) and the sentence-transformers
Pooling / Normalize modules, written from their published definitions. Reads weights with safetensors_np
(no shared code with the C# engine). float32 on the CPU, one thread, torch.no_grad.

CLI:
  bert_ref.py --model DIR [--input IDS.json] [--output OUT.json] [--batch-size N] [--self-check]
IDS.json is a JSON list of token-id lists (already tokenized with [CLS]/[SEP] and truncated). OUT.json gets
{"pooled": [[...]], "embedding": [[...]]}: pooled = pooling output before Normalize, embedding = final output.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402

torch.set_num_threads(1)


class ModelError(ValueError):
    pass


# ---------------------------------------------------------------- activations (HF ACT2FN names)
def _gelu_new(x):
    # HF NewGELUActivation: tanh approximation, written out as in transformers/activations.py.
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),  # exact erf form
    "gelu_new": _gelu_new,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
}


# ---------------------------------------------------------------- modules (one per HF module)
class BertEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["hidden_size"]
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], h)
        self.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], h)
        self.token_type_embeddings = nn.Embedding(cfg["type_vocab_size"], h)
        self.LayerNorm = nn.LayerNorm(h, eps=cfg["layer_norm_eps"])

    def forward(self, input_ids, token_type_ids=None):
        b, t = input_ids.shape
        position_ids = torch.arange(t, dtype=torch.long).unsqueeze(0).expand(b, t)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        e = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        e = e + self.position_embeddings(position_ids)
        return self.LayerNorm(e)


class BertSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["hidden_size"]
        self.num_heads = cfg["num_attention_heads"]
        if h % self.num_heads:
            raise ModelError(f"hidden_size {h} is not a multiple of num_attention_heads {self.num_heads}")
        self.head_dim = h // self.num_heads
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)

    def _heads(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.head_dim).permute(0, 2, 1, 3)  # [B, H, T, D]

    def forward(self, x, ext_mask):
        q, k, v = self._heads(self.query(x)), self._heads(self.key(x)), self._heads(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        scores = scores + ext_mask  # [B, 1, 1, T]: 0 for real keys, finfo.min for padding keys
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.shape[0], ctx.shape[1], -1)


class BertSelfOutput(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["hidden_size"]
        self.dense = nn.Linear(h, h)
        self.LayerNorm = nn.LayerNorm(h, eps=cfg["layer_norm_eps"])

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.self = BertSelfAttention(cfg)
        self.output = BertSelfOutput(cfg)

    def forward(self, x, ext_mask):
        return self.output(self.self(x, ext_mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg["hidden_size"], cfg["intermediate_size"])
        act = cfg.get("hidden_act", "gelu")
        if act not in ACTIVATIONS:
            raise ModelError(f"config.json: unsupported hidden_act '{act}'")
        self.act = ACTIVATIONS[act]

    def forward(self, x):
        return self.act(self.dense(x))


class BertOutput(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg["intermediate_size"], cfg["hidden_size"])
        self.LayerNorm = nn.LayerNorm(cfg["hidden_size"], eps=cfg["layer_norm_eps"])

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class BertLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention = BertAttention(cfg)
        self.intermediate = BertIntermediate(cfg)
        self.output = BertOutput(cfg)

    def forward(self, x, ext_mask):
        a = self.attention(x, ext_mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(cfg) for _ in range(cfg["num_hidden_layers"])])

    def forward(self, x, ext_mask):
        for layer in self.layer:
            x = layer(x, ext_mask)
        return x


class BertModel(nn.Module):
    """HF BertModel without the pooler (sentence-transformers uses last_hidden_state only)."""

    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = BertEncoder(cfg)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        dtype = self.embeddings.LayerNorm.weight.dtype
        # HF get_extended_attention_mask: (1 - mask) * finfo(dtype).min, broadcast over heads and query rows.
        ext = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
        return self.encoder(self.embeddings(input_ids, token_type_ids), ext)


# ---------------------------------------------------------------- sentence-transformers Pooling / Normalize
POOLING_KEYS = ["pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_tokens",
                "pooling_mode_mean_sqrt_len_tokens"]


def pool(token_embeddings, attention_mask, pooling_cfg):
    """sentence_transformers.models.Pooling.forward; outputs concatenated in its order: cls, max, mean, mean_sqrt_len."""
    outs = []
    mask = attention_mask.unsqueeze(-1).expand(token_embeddings.size()).to(token_embeddings.dtype)
    if pooling_cfg.get("pooling_mode_cls_token"):
        outs.append(token_embeddings[:, 0])
    if pooling_cfg.get("pooling_mode_max_tokens"):
        # sentence-transformers sets padded positions to -1e9 so padding never wins the max (masked_fill is the
        # same operation without in-place indexing, so it also exports to ONNX).
        te = token_embeddings.masked_fill(mask == 0, -1e9)
        outs.append(torch.max(te, 1)[0])
    if pooling_cfg.get("pooling_mode_mean_tokens") or pooling_cfg.get("pooling_mode_mean_sqrt_len_tokens"):
        sum_emb = torch.sum(token_embeddings * mask, 1)
        sum_mask = torch.clamp(mask.sum(1), min=1e-9)
        if pooling_cfg.get("pooling_mode_mean_tokens"):
            outs.append(sum_emb / sum_mask)
        if pooling_cfg.get("pooling_mode_mean_sqrt_len_tokens"):
            outs.append(sum_emb / torch.sqrt(sum_mask))
    if not outs:
        raise ModelError("1_Pooling/config.json: no supported pooling mode is enabled")
    return torch.cat(outs, 1)


# ---------------------------------------------------------------- model directory
def _read_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ModelError(f"missing {what}: {path}") from None
    except json.JSONDecodeError as e:
        raise ModelError(f"invalid JSON in {path}: {e}") from None


def _expected_shapes(cfg):
    h, i = cfg["hidden_size"], cfg["intermediate_size"]
    shapes = {
        "embeddings.word_embeddings.weight": (cfg["vocab_size"], h),
        "embeddings.position_embeddings.weight": (cfg["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": (cfg["type_vocab_size"], h),
        "embeddings.LayerNorm.weight": (h,),
        "embeddings.LayerNorm.bias": (h,),
    }
    for n in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{n}."
        for m in ("query", "key", "value"):
            shapes[p + f"attention.self.{m}.weight"] = (h, h)
            shapes[p + f"attention.self.{m}.bias"] = (h,)
        shapes[p + "attention.output.dense.weight"] = (h, h)
        shapes[p + "attention.output.dense.bias"] = (h,)
        shapes[p + "attention.output.LayerNorm.weight"] = (h,)
        shapes[p + "attention.output.LayerNorm.bias"] = (h,)
        shapes[p + "intermediate.dense.weight"] = (i, h)
        shapes[p + "intermediate.dense.bias"] = (i,)
        shapes[p + "output.dense.weight"] = (h, i)
        shapes[p + "output.dense.bias"] = (h,)
        shapes[p + "output.LayerNorm.weight"] = (h,)
        shapes[p + "output.LayerNorm.bias"] = (h,)
    return shapes


class SentenceModel:
    """A loaded model directory: BertModel + pooling config + normalize flag + max_seq_length."""

    def __init__(self, model_dir):
        self.dir = model_dir
        cfg = _read_json(os.path.join(model_dir, "config.json"), "config.json")
        cfg.setdefault("layer_norm_eps", 1e-12)
        cfg.setdefault("type_vocab_size", 2)
        cfg.setdefault("hidden_act", "gelu")
        pet = cfg.get("position_embedding_type", "absolute")
        if pet != "absolute":
            raise ModelError(f"config.json: unsupported position_embedding_type '{pet}'")
        self.config = cfg
        self.pooling = _read_json(os.path.join(model_dir, "1_Pooling", "config.json"), "1_Pooling/config.json")
        for k, v in self.pooling.items():
            if k.startswith("pooling_mode_") and k not in POOLING_KEYS and v:
                raise ModelError(f"1_Pooling/config.json: unsupported pooling mode {k}")
        modules = _read_json(os.path.join(model_dir, "modules.json"), "modules.json")
        self.normalize = any(m.get("type", "").endswith(".Normalize") for m in modules)
        sbc_path = os.path.join(model_dir, "sentence_bert_config.json")
        sbc = _read_json(sbc_path, "sentence_bert_config.json") if os.path.exists(sbc_path) else {}
        self.max_seq_length = min(int(sbc.get("max_seq_length") or 512), cfg["max_position_embeddings"])
        self.bert = BertModel(cfg).eval()
        self._load_weights(os.path.join(model_dir, "model.safetensors"))

    def _load_weights(self, path):
        if not os.path.exists(path):
            raise ModelError(f"missing model.safetensors: {path}")
        raw = safetensors_np.load(path)
        tensors = {}
        for name, arr in raw.items():
            tensors[name[len("bert."):] if name.startswith("bert.") else name] = arr
        expected = _expected_shapes(self.config)
        missing = [n for n in expected if n not in tensors]
        if missing:
            raise ModelError(f"model.safetensors: missing tensor(s) {', '.join(missing[:5])}"
                             + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
        for n, shape in expected.items():
            if tuple(tensors[n].shape) != shape:
                raise ModelError(f"model.safetensors: tensor '{n}' has shape {list(tensors[n].shape)}, "
                                 f"config.json needs {list(shape)}")
        state = {n: torch.from_numpy(np.ascontiguousarray(tensors[n], dtype=np.float32)) for n in expected}
        own = self.bert.state_dict()
        assert set(own) == set(state), sorted(set(own) ^ set(state))
        self.bert.load_state_dict(state, strict=True)

    @property
    def hidden_size(self):
        return self.config["hidden_size"]

    def check_ids(self, ids):
        if not ids:
            raise ModelError("empty id list")
        if len(ids) > self.max_seq_length:
            raise ModelError(f"{len(ids)} ids exceed max_seq_length {self.max_seq_length}")
        v = self.config["vocab_size"]
        bad = [i for i in ids if not (0 <= i < v)]
        if bad:
            raise ModelError(f"token id {bad[0]} outside vocabulary of {v}")

    @torch.no_grad()
    def forward_padded(self, input_ids, attention_mask):
        """last_hidden_state, pooled (before Normalize), embedding (final) for padded int64 tensors."""
        hidden = self.bert(input_ids, attention_mask)
        pooled = pool(hidden, attention_mask, self.pooling)
        emb = F.normalize(pooled, p=2, dim=1) if self.normalize else pooled
        return hidden, pooled, emb

    def encode(self, id_lists, batch_size=8, pad_extra=0, pad_id=0):
        """Encode id lists in input order, `batch_size` at a time, padding each batch to its longest list
        (+ pad_extra). Returns (pooled [n, d], embedding [n, d]) as float32 numpy arrays."""
        pooled, embs = [], []
        for s in range(0, len(id_lists), batch_size):
            batch = id_lists[s:s + batch_size]
            for ids in batch:
                self.check_ids(ids)
            t = max(len(x) for x in batch) + pad_extra
            ids_t = torch.full((len(batch), t), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), t), dtype=torch.long)
            for r, ids in enumerate(batch):
                ids_t[r, :len(ids)] = torch.tensor(ids, dtype=torch.long)
                mask[r, :len(ids)] = 1
            _, p, e = self.forward_padded(ids_t, mask)
            pooled.append(p.numpy())
            embs.append(e.numpy())
        return np.concatenate(pooled), np.concatenate(embs)


# ---------------------------------------------------------------- self-checks
def _cross_check_torch_transformer(model, id_lists):
    """Re-run the encoder with torch.nn.TransformerEncoderLayer (PyTorch's own post-norm transformer layer and
    multi-head attention, an implementation independent of ours) and compare last_hidden_state on real tokens."""
    cfg = model.config
    act = cfg["hidden_act"]
    act_fn = "gelu" if act == "gelu" else ("relu" if act == "relu" else ACTIVATIONS[act])
    h = cfg["hidden_size"]
    layers = []
    for L in model.bert.encoder.layer:
        tl = nn.TransformerEncoderLayer(h, cfg["num_attention_heads"], cfg["intermediate_size"], dropout=0.0,
                                        activation=act_fn, layer_norm_eps=cfg["layer_norm_eps"], batch_first=True)
        a = L.attention
        tl.self_attn.in_proj_weight.data = torch.cat([a.self.query.weight, a.self.key.weight, a.self.value.weight])
        tl.self_attn.in_proj_bias.data = torch.cat([a.self.query.bias, a.self.key.bias, a.self.value.bias])
        tl.self_attn.out_proj.weight.data = a.output.dense.weight.clone()
        tl.self_attn.out_proj.bias.data = a.output.dense.bias.clone()
        tl.norm1.weight.data, tl.norm1.bias.data = a.output.LayerNorm.weight.clone(), a.output.LayerNorm.bias.clone()
        tl.linear1.weight.data, tl.linear1.bias.data = L.intermediate.dense.weight.clone(), L.intermediate.dense.bias.clone()
        tl.linear2.weight.data, tl.linear2.bias.data = L.output.dense.weight.clone(), L.output.dense.bias.clone()
        tl.norm2.weight.data, tl.norm2.bias.data = L.output.LayerNorm.weight.clone(), L.output.LayerNorm.bias.clone()
        layers.append(tl.eval())
    worst = 0.0
    with torch.no_grad():
        for ids in id_lists:
            x = torch.tensor([ids + [0] * 9], dtype=torch.long)
            m = torch.tensor([[1] * len(ids) + [0] * 9], dtype=torch.long)
            ours = model.bert(x, m)[0, :len(ids)]
            y = model.bert.embeddings(x)
            for tl in layers:
                y = tl(y, src_key_padding_mask=(m == 0))
            worst = max(worst, float((ours - y[0, :len(ids)]).abs().max()))
    return worst


def self_check(model, id_lists, batch_size=8):
    """Returns a dict of max |Δ| values; raises AssertionError when one exceeds its bound."""
    rng = np.random.default_rng(1234)
    res = {}
    p_b, e_b = model.encode(id_lists, batch_size=batch_size)
    p_1, e_1 = model.encode(id_lists, batch_size=1)
    res["batch_vs_single_pooled"] = float(np.abs(p_b - p_1).max())
    res["batch_vs_single_embedding"] = float(np.abs(e_b - e_1).max())
    # Extra padding with random garbage ids under mask 0 must not change anything.
    v = model.config["vocab_size"]
    room = model.config["max_position_embeddings"] - max(len(x) for x in id_lists)
    p_x, e_x = model.encode(id_lists, batch_size=batch_size, pad_extra=min(11, room), pad_id=int(rng.integers(1, v)))
    res["extra_garbage_padding_pooled"] = float(np.abs(p_x - p_1).max())
    # Mean pooling by hand over the unpadded sequence only.
    maxpos = model.config["max_position_embeddings"]
    short = [x for x in id_lists if len(x) + 9 <= maxpos][:8]
    assert short, "self-check needs some id lists at least 9 shorter than max_position_embeddings"
    with torch.no_grad():
        worst = 0.0
        for ids in short:
            x = torch.tensor([ids], dtype=torch.long)
            hid = model.bert(x, torch.ones_like(x))[0]
            xp = torch.tensor([ids + [7] * 9], dtype=torch.long)
            mp = torch.tensor([[1] * len(ids) + [0] * 9], dtype=torch.long)
            hp = model.bert(xp, mp)
            mean_pad = pool(hp, mp, {"pooling_mode_mean_tokens": True})[0]
            worst = max(worst, float((mean_pad - hid.mean(0)).abs().max()))
        res["mean_pool_ignores_pads"] = worst
    # float64 run of the same modules: how far float32 rounding moves the outputs.
    m64 = SentenceModel.__new__(SentenceModel)
    m64.__dict__.update(model.__dict__)
    import copy
    m64.bert = copy.deepcopy(model.bert).double()
    p64, e64 = [], []
    with torch.no_grad():
        for ids in id_lists:
            x = torch.tensor([ids], dtype=torch.long)
            _, p, e = m64.forward_padded(x, torch.ones_like(x))
            p64.append(p.numpy())
            e64.append(e.numpy())
    res["float32_vs_float64_pooled"] = float(np.abs(p_1 - np.concatenate(p64)).max())
    res["float32_vs_float64_embedding"] = float(np.abs(e_1 - np.concatenate(e64)).max())
    res["torch_TransformerEncoderLayer_hidden"] = _cross_check_torch_transformer(model, short)
    bounds = {"batch_vs_single_pooled": 1e-5, "batch_vs_single_embedding": 1e-6,
              "extra_garbage_padding_pooled": 1e-5, "mean_pool_ignores_pads": 1e-5,
              "float32_vs_float64_pooled": 1e-4, "float32_vs_float64_embedding": 1e-5,
              "torch_TransformerEncoderLayer_hidden": 1e-4}
    for k, b in bounds.items():
        assert res[k] <= b, f"self-check {k}: max |d| {res[k]:.3g} > {b}"
    return res


def float32_list(arr):
    """Shortest decimal strings that parse back to the same float32, as Python floats for json.dump."""
    return [float(repr(np.float32(x))) for x in np.asarray(arr, dtype=np.float32).ravel()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="sentence-transformers model directory")
    ap.add_argument("--input", help="JSON list of token-id lists (default: stdin)")
    ap.add_argument("--output", help="output JSON (default: stdout)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--self-check", action="store_true", help="run the batch/padding/float64/nn.Transformer checks")
    a = ap.parse_args(argv)
    try:
        model = SentenceModel(a.model)
        src = open(a.input, encoding="utf-8") if a.input else sys.stdin
        with src:
            id_lists = json.load(src)
        if not isinstance(id_lists, list) or not all(isinstance(x, list) for x in id_lists):
            raise ModelError("input must be a JSON list of id lists")
        pooled, emb = model.encode(id_lists, batch_size=a.batch_size)
        if a.self_check:
            for k, v in self_check(model, id_lists, a.batch_size).items():
                print(f"self-check {k}: max|d| = {v:.3g}", file=sys.stderr)
    except (ModelError, safetensors_np.SafetensorsError) as e:
        print(f"bert_ref: error: {e}", file=sys.stderr)
        return 2
    out = {"pooled": [float32_list(r) for r in pooled], "embedding": [float32_list(r) for r in emb]}
    if a.output:
        with open(a.output, "w", encoding="utf-8") as f:
            json.dump(out, f)
    else:
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
