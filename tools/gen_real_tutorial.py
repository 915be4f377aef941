#!/usr/bin/python3
"""Writes tests/fixtures/encoder/minilm-real-tutorial.json: the tutorial's steps computed by the PyTorch reference
(tools/reference/bert_ref.py + hf_tokenizer.py) on the real all-MiniLM-L6-v2 (a directory from
tools/make_real_minilm.sh), so the C# real-model tests compare against values our C# never produced:

- "cosine": the tutorial's five sentences and its four pairs, plus the published sentence-transformers examples;
- "search": samples/corpus.txt (one document per non-blank line) against the tutorial's four queries: the top 3
  (0-based document index and cosine score), brute force over normalized embeddings, as its SemanticSearch does;
- "pairs": samples/pairs.tsv cosines, and the accuracy at threshold 0.5 (cosine > 0.5 <=> similar).

  /usr/bin/python3 tools/gen_real_tutorial.py --model DIR
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "reference"))
import bert_ref  # noqa: E402
import hf_tokenizer  # noqa: E402

QUERIES = ["How do transformers work?", "What is the difference between BERT and GPT?",
           "How can I make training more efficient?", "What happens when a model memorizes training data?"]
SENTENCES = ["The cat sat on the mat.", "A feline rested on the rug.", "Dogs love to play fetch.",
             "Machine learning is a subset of AI.", "Artificial intelligence includes ML."]
PAIRS = [[0, 1], [0, 2], [3, 4], [0, 3]]
PUBLISHED = [["The weather is lovely today.", "It's so sunny outside!"],
             ["The weather is lovely today.", "He drove to the stadium."],
             ["It's so sunny outside!", "He drove to the stadium."],
             ["The new movie is awesome", "The new movie is so great"]]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "real", "minilm-real-tutorial.json"))
    a = ap.parse_args()
    model = bert_ref.SentenceModel(a.model)
    tok = hf_tokenizer.Reference(os.path.join(a.model, "vocab.txt"), lower=True)

    def enc(texts):
        _, e = model.encode([tok.encode(t, model.max_seq_length) for t in texts])
        return e.astype(np.float64)

    def cos(u, v):
        return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))

    out = {"model": "sentence-transformers/all-MiniLM-L6-v2",
           "safetensors_sha256": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"}
    e = enc(SENTENCES)
    out["cosine"] = [{"a": SENTENCES[i], "b": SENTENCES[j], "cosine": round(cos(e[i], e[j]), 6)} for i, j in PAIRS]
    for x, y in PUBLISHED:
        ex = enc([x, y])
        out["cosine"].append({"a": x, "b": y, "cosine": round(cos(ex[0], ex[1]), 6)})

    docs = [l.rstrip("\n") for l in open(os.path.join(REPO, "samples", "corpus.txt"), encoding="utf-8") if l.strip()]
    d = enc(docs)
    q = enc(QUERIES)
    out["search"] = []
    for qi, text in enumerate(QUERIES):
        sims = np.array([cos(q[qi], d[k]) for k in range(len(docs))])
        order = np.argsort(-sims, kind="stable")[:3]
        out["search"].append({"query": text, "top": [{"index": int(k), "score": round(float(sims[k]), 6),
                                                      "document": docs[k]} for k in order]})
    pairs = []
    for line in open(os.path.join(REPO, "samples", "pairs.tsv"), encoding="utf-8"):
        if not line.strip() or line.startswith("#"):
            continue
        s1, s2, label = line.rstrip("\n").split("\t")
        ep = enc([s1, s2])
        pairs.append({"a": s1, "b": s2, "label": int(label), "cosine": round(cos(ep[0], ep[1]), 6)})
    correct = sum((p["cosine"] > 0.5) == (p["label"] == 1) for p in pairs)
    out["pairs"] = {"threshold": 0.5, "correct": correct, "total": len(pairs), "results": pairs}
    with open(a.out, "w", encoding="utf-8", newline="\n") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(json.dumps({k: out[k] for k in ("cosine", "search")}, indent=1)[:4000])
    print("pairs:", correct, "/", len(pairs))


if __name__ == "__main__":
    main()
