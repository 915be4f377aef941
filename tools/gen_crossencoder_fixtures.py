#!/usr/bin/python3
"""Writes tests/fixtures/crossencoder/crossencoder-synth.json: sentence-transformers CrossEncoder pair ids, token
types, logits and scores on seeded synthetic BertForSequenceClassification models, computed by the independent
reference tools/reference/cross_encoder_ref.py (see its docstring for the rules).

Each model is synthesized by `membed model synth --arch bert-cross-encoder` (seeded weights are only the input; the
reference reads model.safetensors with its own reader); the fixture records config, vocab, seed and the weights'
SHA-256 so the test re-synthesizes the same bytes. Runs: the default max_length (the tokenizer's model_max_length)
and short max_lengths that force longest_first truncation (odd and even budgets, either side longer, ties).

  /usr/bin/python3 tools/gen_crossencoder_fixtures.py --membed MEMBED --work DIR
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "reference"))
import cross_encoder_ref  # noqa: E402
import gen_fixtures  # noqa: E402

VOCAB = "shared:models/all-MiniLM-L6-v2/vocab.txt"
LONG = " ".join(["retrieval augmented generation ranks candidate passages before the reader sees them"] * 60)

PAIRS = [
    ["How many people live in Berlin?", "Berlin has a population of 3,520,031 registered inhabitants."],
    ["How many people live in Berlin?", "New York City is famous for the Metropolitan Museum of Art."],
    ["  what is a cross-encoder?  ", "\tA cross-encoder reads the query and the passage together.\n"],
    ["café déjà vu", "Crème brûlée is a dessert."],
    ["a", ""],
    ["", "only the second segment has words here"],
    ["the quick brown fox jumps over the lazy dog " * 3, "short answer"],
    ["short question", "the quick brown fox jumps over the lazy dog " * 3],
    ["one two three four five six seven eight nine ten", "alpha beta gamma delta epsilon zeta eta theta iota kappa"],
    ["one two three four five six seven eight nine ten eleven", "alpha beta gamma delta epsilon zeta eta theta iota"],
    ["[SEP] literal specials [CLS] in the text", "unaffable wordpieces: unbelievable, tokenization"],
    ["what ranks first?", LONG],
]

RANK_QUERY = "How many people live in Berlin?"
RANK_DOCS = [
    "New York City is famous for the Metropolitan Museum of Art.",
    "Berlin has a population of 3,520,031 registered inhabitants.",
    "Berlin is well known for its museums.",
    "In 2013 around 600,000 people were registered in Berlin.",
    "The urban area of Berlin has about 4.1 million people.",
    "bread",
    "Paris is the capital of France.",
]

MODELS = [
    {"name": "ms-marco-MiniLM-L-6-v2-shape", "config": "repo:weights/synth/ms-marco-MiniLM-L-6-v2-config.json",
     "seed": 15, "runs": [None, 32, 19]},
    {"name": "ms-marco-st4-sigmoid", "config": "repo:weights/synth/ms-marco-MiniLM-L-6-v2-st4-sigmoid-config.json",
     "seed": 15, "runs": [None]},
    {"name": "tiny-3-labels", "config": "repo:weights/synth/tiny-3label-cross-config.json", "seed": 16,
     "runs": [None, 24, 8]},
]


def resolve(path, shared):
    return os.path.join(shared, path[7:]) if path.startswith("shared:") else os.path.join(REPO, path[5:])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--membed", required=True, help="path of the built membed executable")
    ap.add_argument("--shared", default=os.path.join(REPO, "..", "shared"))
    ap.add_argument("--work", required=True, help="scratch directory for the synthesized models")
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "crossencoder", "crossencoder-synth.json"))
    a = ap.parse_args(argv)
    models = []
    for spec in MODELS:
        model_dir = os.path.join(a.work, spec["name"])
        cmd = [a.membed, "model", "synth", "--arch", "bert-cross-encoder", "--config", resolve(spec["config"], a.shared),
               "--vocab", resolve(VOCAB, a.shared), "--seed", str(spec["seed"]), "--out", model_dir]
        print("+ " + " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        runs = []
        for max_length in spec["runs"]:
            ref = cross_encoder_ref.CrossEncoderRef(model_dir, max_length)
            d_batch, d64 = cross_encoder_ref.self_check(ref, PAIRS)
            print(f"{spec['name']} max_length {ref.max_length}: batched vs single {d_batch:.3g}, f32 vs f64 {d64:.3g}")
            encoded, logits, scores = ref.predict(PAIRS)
            if max_length is not None and not any(len(ids) == max_length for ids, _ in encoded):
                raise SystemExit(f"no pair reaches max_length {max_length}")
            runs.append({"max_length": max_length, "effective_max_length": ref.max_length,
                         "ids": [e[0] for e in encoded], "token_type_ids": [e[1] for e in encoded],
                         "logits": logits.tolist(), "scores": scores.tolist()})
        ref = cross_encoder_ref.CrossEncoderRef(model_dir)
        rank = None
        if ref.num_labels == 1:
            _, _, rank_scores = ref.predict([[RANK_QUERY, d] for d in RANK_DOCS])
            flat = [float(x) for x in rank_scores[:, 0]]
            ordered = sorted(flat, reverse=True)
            gap = min(x - y for x, y in zip(ordered, ordered[1:]))
            if gap < 1e-4:
                raise SystemExit(f"{spec['name']}: rank scores too close ({gap:.3g}) to pin an order")
            rank = {"query": RANK_QUERY, "documents": RANK_DOCS, "scores": flat}
        models.append({"name": spec["name"], "config": spec["config"], "vocab": VOCAB, "seed": spec["seed"], "rank": rank,
                       "num_labels": ref.num_labels, "activation": ref.activation_name,
                       "safetensors_sha256": gen_fixtures.sha256(os.path.join(model_dir, "model.safetensors")),
                       "runs": runs})
    doc = {"generator": "tools/gen_crossencoder_fixtures.py", "pairs": PAIRS, "models": models}
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w", encoding="utf-8", newline="\n") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
    print("wrote", a.out)


if __name__ == "__main__":
    main()
