#!/usr/bin/python3
"""Writes tests/fixtures/prompts/prompts-synth.json: sentence-transformers' prompt and Matryoshka semantics on
seeded synthetic models, computed by the independent PyTorch reference (tools/reference/bert_ref.py) and the
reference tokenizer (tools/reference/hf_tokenizer.py).

The rules reproduced here are those of SentenceTransformer.encode (v3+) and models.Pooling, written from their
published source, not from our C#:
  * prompt resolution: an explicit `prompt` wins (even ""); else `prompt_name` must be in `prompts`; else
    `default_prompt_name`'s prompt, if set;
  * when a prompt is not None every text becomes prompt + text, and prompt_length = len(tokenize([prompt])) - 1
    (the prompt alone with its special tokens, less the closing one; Transformer.tokenize strips each text first);
  * Pooling with include_prompt false zeroes attention_mask[:, :prompt_length] for pooling only (the transformer
    still sees every token), so cls pooling is unaffected, mean divides by the remaining count (clamped at 1e-9)
    and max sets masked rows to -1e9;
  * truncate_dim keeps the first dimensions of the final embedding (after Normalize), then normalize_embeddings
    re-normalizes; encode_query uses prompt_name "query" and encode_document the first of "document", "passage",
    "corpus" that the model has, when the caller gives no prompt.
Each model is synthesized by `membed model synth` (seeded weights; the reference reads model.safetensors with its
own reader) and the fixture records the seed, the digest, and the extra config files the test must write.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "reference"))
import bert_ref  # noqa: E402
import gen_fixtures  # noqa: E402
import hf_tokenizer  # noqa: E402

E5 = {"query": "query: ", "passage": "passage: "}
ARCTIC = {"query": "Represent this sentence for searching relevant passages: "}

MODELS = [
    {"name": "prompts-mean", "config": "repo:weights/synth/tiny-gelu-config.json",
     "vocab": "shared:models/all-MiniLM-L6-v2/vocab.txt", "seed": 21, "pooling": "mean", "max_seq_length": 24,
     "normalize": True, "st": {"prompts": E5, "default_prompt_name": None, "similarity_fn_name": "cosine"},
     "include_prompt": True},
    {"name": "prompts-exclude-mean", "config": "repo:weights/synth/tiny-gelu-config.json",
     "vocab": "shared:models/all-MiniLM-L6-v2/vocab.txt", "seed": 22, "pooling": "mean", "max_seq_length": 24,
     "normalize": True, "st": {"prompts": ARCTIC, "default_prompt_name": None}, "include_prompt": False},
    {"name": "prompts-exclude-max-default", "config": "repo:weights/synth/tiny-relu-config.json",
     "vocab": "shared:models/all-MiniLM-L6-v2/vocab.txt", "seed": 23, "pooling": "max", "max_seq_length": 24,
     "normalize": False, "st": {"prompts": {**E5, "document": "doc: "}, "default_prompt_name": "query"},
     "include_prompt": False},
]

TEXTS = [
    "The weather is lovely today.",
    "  How do I fine-tune a transformer?  ",
    "a",
    "",
    "Sentence embeddings map a piece of text to a fixed-size vector so that texts with similar meanings end up close",
]

CALLS = [
    {},
    {"prompt_name": "query"},
    {"prompt_name": "passage"},
    {"prompt": "Custom instruction: "},
    {"prompt": ""},
    {"prompt": "x", "prompt_name": "query"},
    {"method": "encode_query"},
    {"method": "encode_document"},
    {"prompt_name": "query", "truncate_dim": 16},
    {"prompt_name": "query", "truncate_dim": 16, "normalize_embeddings": True},
    {"truncate_dim": 63, "normalize_embeddings": True},
]


def resolve(st, call):
    """The prompt SentenceTransformer.encode applies (None for none)."""
    prompts = st.get("prompts") or {}
    prompt, name = call.get("prompt"), call.get("prompt_name")
    if call.get("method") == "encode_query" and prompt is None and name is None and "query" in prompts:
        name = "query"
    if call.get("method") == "encode_document" and prompt is None and name is None:
        name = next((c for c in ("document", "passage", "corpus") if c in prompts), None)
    if prompt is None:
        if name is not None:
            prompt = prompts[name]  # a KeyError here means the case list is wrong for this model
        elif st.get("default_prompt_name") is not None:
            prompt = prompts.get(st["default_prompt_name"])
    return prompt


@torch.no_grad()
def st_encode(model, tok, texts, prompt, include_prompt, truncate_dim, normalize_embeddings):
    sentences = [prompt + t for t in texts] if prompt is not None else list(texts)
    ids = [tok.encode(s.strip(), model.max_seq_length) for s in sentences]
    prompt_length = len(tok.encode(prompt.strip(), model.max_seq_length)) - 1 if prompt is not None else None
    t = max(len(x) for x in ids)
    ids_t = torch.zeros((len(ids), t), dtype=torch.long)
    mask = torch.zeros((len(ids), t), dtype=torch.long)
    for r, x in enumerate(ids):
        ids_t[r, :len(x)] = torch.tensor(x)
        mask[r, :len(x)] = 1
    hidden = model.bert(ids_t, mask)
    pool_mask = mask.clone()
    if not include_prompt and prompt_length is not None:
        pool_mask[:, :prompt_length] = 0
    emb = bert_ref.pool(hidden, pool_mask, model.pooling)
    if model.normalize:
        emb = F.normalize(emb, p=2, dim=1)
    if truncate_dim:
        emb = emb[..., :truncate_dim]
    if normalize_embeddings:
        emb = F.normalize(emb, p=2, dim=1)
    return ids, prompt_length, emb.numpy()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--membed", required=True, help="path of the built membed executable")
    ap.add_argument("--shared", default=os.path.join(REPO, "..", "shared"))
    ap.add_argument("--work", required=True, help="scratch directory for the synthesized models")
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "prompts", "prompts-synth.json"))
    a = ap.parse_args(argv)
    models = []
    for spec in MODELS:
        model_dir = os.path.join(a.work, spec["name"])
        gen_fixtures.synth(a.membed, spec, a.shared, model_dir)
        with open(os.path.join(model_dir, "config_sentence_transformers.json"), "w", encoding="utf-8") as f:
            json.dump(spec["st"], f, indent=2)
        pooling_path = os.path.join(model_dir, "1_Pooling", "config.json")
        with open(pooling_path, encoding="utf-8") as f:
            pooling = json.load(f)
        pooling["include_prompt"] = spec["include_prompt"]
        with open(pooling_path, "w", encoding="utf-8") as f:
            json.dump(pooling, f, indent=2)
        model = bert_ref.SentenceModel(model_dir)
        gen_fixtures.check_model_dir(model, spec)
        tok = hf_tokenizer.Reference(os.path.join(model_dir, "vocab.txt"))
        cases = []
        for call in CALLS:
            prompts = spec["st"].get("prompts") or {}
            if call.get("prompt_name") is not None and call.get("prompt") is None and call["prompt_name"] not in prompts:
                continue
            prompt = resolve(spec["st"], call)
            ids, plen, emb = st_encode(model, tok, TEXTS, prompt, spec["include_prompt"], call.get("truncate_dim"),
                                       call.get("normalize_embeddings", False))
            if any(len(x) == model.max_seq_length for x in ids) is False:
                raise SystemExit("gen_prompt_fixtures: no text reaches max_seq_length (truncation with a prompt untested)")
            cases.append({"call": call, "prompt": prompt, "prompt_length": plen, "ids": ids,
                          "embeddings": [bert_ref.float32_list(e) for e in emb]})
        models.append({"name": spec["name"], "config": spec["config"], "vocab": spec["vocab"], "seed": spec["seed"],
                       "pooling": spec["pooling"], "max_seq_length": spec["max_seq_length"],
                       "normalize": spec["normalize"], "config_sentence_transformers": spec["st"],
                       "include_prompt": spec["include_prompt"],
                       "safetensors_sha256": gen_fixtures.sha256(os.path.join(model_dir, "model.safetensors")),
                       "cases": cases})
    doc = {"generator": "tools/gen_prompt_fixtures.py", "texts": TEXTS, "models": models}
    with open(a.out, "w", encoding="utf-8", newline="\n") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(a.out, REPO)}: {sum(len(m['cases']) for m in models)} calls x {len(TEXTS)} texts")


if __name__ == "__main__":
    main()
