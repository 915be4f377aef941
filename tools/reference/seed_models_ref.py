#!/usr/bin/python3
"""Independent PyTorch references for the MPNet and DistilBERT sentence-transformers models.

Written from the published architectures (Hugging Face modeling_mpnet.py / modeling_distilbert.py semantics, eager
attention, float32, CPU, one thread), not from the C# engine: same module tree and parameter names as the
checkpoints, weights read with safetensors_np, pooling / Normalize from bert_ref (sentence-transformers' modules).

  seed_models_ref.py --model DIR [--input IDS.json] [--output OUT.json] [--batch-size N]
  seed_models_ref.py --buckets 0,1,7,...      # MPNet relative_position_bucket of +d and -d, as JSON
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
import bert_ref  # noqa: E402  (pool, ACTIVATIONS, float32_list: the sentence-transformers side)
import safetensors_np  # noqa: E402

torch.set_num_threads(1)
ModelError = bert_ref.ModelError


# ------------------------------------------------------------------------------------------------ MPNet
def relative_position_bucket(relative_position, num_buckets=32, max_distance=128):
    """T5 bidirectional buckets of relative_position = key - query, as MPNetEncoder computes them (float32 log)."""
    ret = 0
    n = -relative_position
    num_buckets //= 2
    ret += (n < 0).to(torch.long) * num_buckets
    n = torch.abs(n)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    val_if_large = max_exact + (
        torch.log(n.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).to(torch.long)
    val_if_large = torch.min(val_if_large, torch.full_like(val_if_large, num_buckets - 1))
    return ret + torch.where(is_small, n, val_if_large)


class MPNetEmbeddings(nn.Module):
    padding_idx = 1  # hard-coded in MPNetEmbeddings

    def __init__(self, cfg):
        super().__init__()
        h = cfg["hidden_size"]
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], h, padding_idx=self.padding_idx)
        self.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], h, padding_idx=self.padding_idx)
        self.LayerNorm = nn.LayerNorm(h, eps=cfg["layer_norm_eps"])

    def forward(self, input_ids):
        # create_position_ids_from_input_ids: cumulative count of non-padding tokens, offset by padding_idx.
        mask = input_ids.ne(self.padding_idx).int()
        position_ids = (torch.cumsum(mask, dim=1).type_as(mask) * mask).long() + self.padding_idx
        return self.LayerNorm(self.word_embeddings(input_ids) + self.position_embeddings(position_ids))


class MPNetSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["hidden_size"]
        self.n = cfg["num_attention_heads"]
        self.d = h // self.n
        self.q, self.k, self.v, self.o = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)

    def _heads(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.n, self.d).transpose(1, 2)

    def forward(self, x, ext_mask, position_bias):
        q, k, v = self._heads(self.q(x)), self._heads(self.k(x)), self._heads(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.d)
        scores = scores + position_bias
        scores = scores + ext_mask
        c = torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        return self.o(c.view(c.shape[0], c.shape[1], -1))


class MPNetAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attn = MPNetSelfAttention(cfg)
        self.LayerNorm = nn.LayerNorm(cfg["hidden_size"], eps=cfg["layer_norm_eps"])

    def forward(self, x, ext_mask, position_bias):
        return self.LayerNorm(self.attn(x, ext_mask, position_bias) + x)


class Dense(nn.Module):
    """BertIntermediate / BertOutput pair (MPNet copies them)."""

    def __init__(self, i, o):
        super().__init__()
        self.dense = nn.Linear(i, o)


class MPNetOutput(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg["intermediate_size"], cfg["hidden_size"])
        self.LayerNorm = nn.LayerNorm(cfg["hidden_size"], eps=cfg["layer_norm_eps"])

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class MPNetLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention = MPNetAttention(cfg)
        self.intermediate = Dense(cfg["hidden_size"], cfg["intermediate_size"])
        self.act = bert_ref.ACTIVATIONS[cfg["hidden_act"]]
        self.output = MPNetOutput(cfg)

    def forward(self, x, ext_mask, position_bias):
        a = self.attention(x, ext_mask, position_bias)
        return self.output(self.act(self.intermediate.dense(a)), a)


class MPNetEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_heads = cfg["num_attention_heads"]
        self.layer = nn.ModuleList([MPNetLayer(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.relative_attention_bias = nn.Embedding(cfg["relative_attention_num_buckets"], self.n_heads)

    def forward(self, x, ext_mask):
        # compute_position_bias: arange positions over the (padded) length, 32 buckets, shared by every layer.
        b, t = x.shape[0], x.shape[1]
        ctx = torch.arange(t, dtype=torch.long)[:, None]
        mem = torch.arange(t, dtype=torch.long)[None, :]
        bucket = relative_position_bucket(mem - ctx, num_buckets=32)
        bias = self.relative_attention_bias(bucket).permute([2, 0, 1]).unsqueeze(0).expand((b, -1, t, t)).contiguous()
        for layer in self.layer:
            x = layer(x, ext_mask, bias)
        return x


class MPNetModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.embeddings = MPNetEmbeddings(cfg)
        self.encoder = MPNetEncoder(cfg)

    def forward(self, input_ids, attention_mask):
        dtype = self.embeddings.LayerNorm.weight.dtype
        ext = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
        return self.encoder(self.embeddings(input_ids), ext)


# ------------------------------------------------------------------------------------------------ DistilBERT
class DistilEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], cfg["dim"], padding_idx=cfg.get("pad_token_id", 0))
        self.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], cfg["dim"])
        self.LayerNorm = nn.LayerNorm(cfg["dim"], eps=1e-12)

    def forward(self, input_ids):
        t = input_ids.shape[1]
        position_ids = torch.arange(t, dtype=torch.long).unsqueeze(0).expand_as(input_ids)
        return self.LayerNorm(self.word_embeddings(input_ids) + self.position_embeddings(position_ids))


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_heads, dim = cfg["n_heads"], cfg["dim"]
        self.d = dim // self.n_heads
        self.q_lin, self.k_lin, self.v_lin, self.out_lin = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x, mask):
        b, t, _ = x.shape

        def shape(y):
            return y.view(b, -1, self.n_heads, self.d).transpose(1, 2)

        q = shape(self.q_lin(x)) / math.sqrt(self.d)  # DistilBERT scales q before the product
        k, v = shape(self.k_lin(x)), shape(self.v_lin(x))
        scores = torch.matmul(q, k.transpose(2, 3))
        scores = scores.masked_fill((mask == 0).view(b, 1, 1, t).expand_as(scores), torch.finfo(scores.dtype).min)
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).contiguous().view(b, -1, self.n_heads * self.d)
        return self.out_lin(ctx)


class FFN(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.lin1 = nn.Linear(cfg["dim"], cfg["hidden_dim"])
        self.lin2 = nn.Linear(cfg["hidden_dim"], cfg["dim"])
        self.act = bert_ref.ACTIVATIONS[cfg.get("activation", "gelu")]

    def forward(self, x):
        return self.lin2(self.act(self.lin1(x)))


class TransformerBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention = MultiHeadSelfAttention(cfg)
        self.sa_layer_norm = nn.LayerNorm(cfg["dim"], eps=1e-12)
        self.ffn = FFN(cfg)
        self.output_layer_norm = nn.LayerNorm(cfg["dim"], eps=1e-12)

    def forward(self, x, mask):
        sa = self.sa_layer_norm(self.attention(x, mask) + x)
        return self.output_layer_norm(self.ffn(sa) + sa)


class Transformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList([TransformerBlock(cfg) for _ in range(cfg["n_layers"])])


class DistilBertModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        if cfg.get("sinusoidal_pos_embds"):
            raise ModelError("config.json: sinusoidal_pos_embds is not supported by this reference")
        self.config = cfg
        self.embeddings = DistilEmbeddings(cfg)
        self.transformer = Transformer(cfg)

    def forward(self, input_ids, attention_mask):
        x = self.embeddings(input_ids)
        for layer in self.transformer.layer:
            x = layer(x, attention_mask)
        return x


# ------------------------------------------------------------------------------------------------ model directory
class SentenceModel:
    """A model directory: MPNet or DistilBERT (by config.json model_type) + Pooling + optional Normalize."""

    def __init__(self, model_dir):
        cfg = bert_ref._read_json(os.path.join(model_dir, "config.json"), "config.json")
        self.model_type = cfg.get("model_type")
        if self.model_type == "mpnet":
            cfg.setdefault("layer_norm_eps", 1e-5)
            cfg.setdefault("hidden_act", "gelu")
            cfg.setdefault("relative_attention_num_buckets", 32)
            self.net, self.pad_id, self.hidden_size = MPNetModel(cfg), 1, cfg["hidden_size"]
            self.max_tokens = cfg["max_position_embeddings"] - 2  # positions start at padding_idx + 1
        elif self.model_type == "distilbert":
            self.net, self.pad_id, self.hidden_size = DistilBertModel(cfg), 0, cfg["dim"]
            self.max_tokens = cfg["max_position_embeddings"]
        else:
            raise ModelError(f"config.json: model_type {self.model_type!r} is not mpnet or distilbert")
        self.config = cfg
        self.net.eval()
        self.pooling = bert_ref._read_json(os.path.join(model_dir, "1_Pooling", "config.json"), "1_Pooling/config.json")
        modules = bert_ref._read_json(os.path.join(model_dir, "modules.json"), "modules.json")
        self.normalize = any(m.get("type", "").endswith(".Normalize") for m in modules)
        sbc = bert_ref._read_json(os.path.join(model_dir, "sentence_bert_config.json"), "sentence_bert_config.json")
        self.max_seq_length = min(int(sbc.get("max_seq_length") or 512), self.max_tokens)
        raw = safetensors_np.load(os.path.join(model_dir, "model.safetensors"))
        own = self.net.state_dict()
        state = {}
        for name in own:
            arr = raw.get(name)
            if arr is None:
                raise ModelError(f"model.safetensors: missing tensor {name}")
            if tuple(arr.shape) != tuple(own[name].shape):
                raise ModelError(f"model.safetensors: {name} is {list(arr.shape)}, expected {list(own[name].shape)}")
            state[name] = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
        extra = set(raw) - set(own) - {"embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"}
        if extra:
            raise ModelError(f"model.safetensors: unexpected tensors {sorted(extra)[:5]}")
        self.net.load_state_dict(state, strict=True)

    @torch.no_grad()
    def forward_padded(self, ids, mask):
        hidden = self.net(ids, mask)
        pooled = bert_ref.pool(hidden, mask, self.pooling)
        return hidden, pooled, (F.normalize(pooled, p=2, dim=1) if self.normalize else pooled)

    def encode(self, id_lists, batch_size=8, pad_extra=0):
        pooled, embs = [], []
        for s in range(0, len(id_lists), batch_size):
            batch = id_lists[s:s + batch_size]
            t = max(len(x) for x in batch) + pad_extra
            ids = torch.full((len(batch), t), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), t), dtype=torch.long)
            for r, x in enumerate(batch):
                if not 1 <= len(x) <= self.max_tokens:
                    raise ModelError(f"{len(x)} ids: outside [1, {self.max_tokens}]")
                ids[r, :len(x)] = torch.tensor(x, dtype=torch.long)
                mask[r, :len(x)] = 1
            _, p, e = self.forward_padded(ids, mask)
            pooled.append(p.numpy())
            embs.append(e.numpy())
        return np.concatenate(pooled), np.concatenate(embs)


def self_check(model, id_lists, batch_size=8):
    """Batched (padded) vs one at a time, and extra padding: must agree to float32 rounding."""
    p_b, e_b = model.encode(id_lists, batch_size=batch_size)
    p_1, e_1 = model.encode(id_lists, batch_size=1)
    short = [x for x in id_lists if len(x) + 7 <= model.max_tokens]
    p_s, _ = model.encode(short, batch_size=1)
    p_x, _ = model.encode(short, batch_size=1, pad_extra=7)
    res = {"batch_vs_single_pooled": float(np.abs(p_b - p_1).max()),
           "batch_vs_single_embedding": float(np.abs(e_b - e_1).max()),
           "extra_padding_pooled": float(np.abs(p_x - p_s).max())}
    for k, v in res.items():
        assert v <= 1e-4, (k, v)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model")
    ap.add_argument("--input")
    ap.add_argument("--output")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--buckets", help="comma-separated distances d: prints the buckets of +d and -d")
    a = ap.parse_args(argv)
    if a.buckets:
        d = [int(x) for x in a.buckets.split(",")]
        rel = torch.tensor(d + [-x for x in d], dtype=torch.long)
        print(json.dumps({"relative_position": rel.tolist(), "bucket": relative_position_bucket(rel).tolist()}))
        return 0
    model = SentenceModel(a.model)
    with open(a.input, encoding="utf-8") if a.input else sys.stdin as src:
        id_lists = json.load(src)
    pooled, emb = model.encode(id_lists, batch_size=a.batch_size)
    out = {"pooled": [bert_ref.float32_list(r) for r in pooled], "embedding": [bert_ref.float32_list(r) for r in emb]}
    with open(a.output, "w", encoding="utf-8") if a.output else sys.stdout as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
