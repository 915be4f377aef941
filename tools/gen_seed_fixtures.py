#!/usr/bin/python3
"""Writes the MPNet and DistilBERT parity fixtures tests/fixtures/encoder-mpnet/mpnet-synth.json and
tests/fixtures/encoder/distilbert-synth.json and the MPNet
bucket fixture tests/fixtures/encoder-mpnet-buckets.json.

Per model: `membed model synth --arch A` writes the seeded synthetic model (published config with 2 layers, from
tests/fixtures/encoder-configs); the Python reference tokenizer (tools/reference/hf_tokenizer.py, with the model's
special tokens) turns the texts into ids; the independent PyTorch reference (tools/reference/seed_models_ref.py)
encodes them in padded batches and runs its self-checks. Same fixture format as tools/gen_fixtures.py, plus
"arch" and "vocab_transform".

  /usr/bin/python3 tools/gen_seed_fixtures.py --membed "dotnet src/ManagedEmbed.Cli/bin/Release/net10.0/membed.dll" --work DIR
"""
import argparse
import json
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "reference"))
import fixture_texts  # noqa: E402
import gen_fixtures  # noqa: E402  (sha256, fixture_json, resolve)
import hf_tokenizer  # noqa: E402
import seed_models_ref  # noqa: E402

# 29 texts: the Unicode-rich short ones plus long ones that reach max_seq_length (384 MPNet, 512 DistilBERT).
# The literal "<pad>" is MPNet's padding id 1 inside a real sequence: it takes position padding_idx and does not
# advance the others (create_position_ids_from_input_ids); for BERT vocabularies it is just "<", "pad", ">".
TEXTS = fixture_texts.MINILM_TEXTS[:27] + ["a <pad> inside the text, then more <pad> words", fixture_texts._LONG_EN * 4]
BUCKET_DISTANCES = [0, 1, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 500]

MODELS = [
    {"name": "mpnet-synth", "arch": "mpnet", "config": "repo:tests/fixtures/encoder-configs/all-mpnet-base-v2.2-layers.config.json",
     "vocab": "shared:models/all-MiniLM-L6-v2/vocab.txt", "vocab_transform": "mpnet", "seed": 11, "pooling": "mean",
     "max_seq_length": 384, "normalize": True,
     "specials": dict(unk="[UNK]", cls="<s>", sep="</s>", pad="<pad>", mask="<mask>")},
    {"name": "distilbert-synth", "arch": "distilbert", "config": "repo:tests/fixtures/encoder-configs/msmarco-distilbert-base-v4.2-layers.config.json",
     "vocab": "shared:models/all-MiniLM-L6-v2/vocab.txt", "vocab_transform": None, "seed": 12, "pooling": "mean",
     "max_seq_length": 512, "normalize": False,
     "specials": dict(unk="[UNK]", cls="[CLS]", sep="[SEP]", pad="[PAD]", mask="[MASK]")},
]
MAX_FIXTURE_BYTES = 600_000


def mpnet_vocab(bert_vocab_path, out_path):
    """all-mpnet-base-v2's vocab.txt layout: <s> <pad> </s> <unk>, the BERT-uncased tokens, <mask>."""
    with open(bert_vocab_path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines[-1] == "":
        lines.pop()
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(["<s>", "<pad>", "</s>", "<unk>"] + lines + ["<mask>"]) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--membed", required=True, help="command that runs membed")
    ap.add_argument("--shared", default=os.path.join(REPO, "..", "shared"))
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "encoder"))
    ap.add_argument("--only")
    a = ap.parse_args(argv)
    os.makedirs(a.work, exist_ok=True)
    buckets = json.loads(subprocess.run([sys.executable, os.path.join(HERE, "reference", "seed_models_ref.py"), "--buckets",
                                         ",".join(map(str, BUCKET_DISTANCES))], check=True, capture_output=True, text=True).stdout)
    bpath = os.path.join(REPO, "tests", "fixtures", "encoder-mpnet-buckets.json")
    with open(bpath, "w", encoding="utf-8", newline="\n") as f:
        json.dump({"source": "tools/reference/seed_models_ref.py relative_position_bucket (HF MPNetEncoder, 32 buckets, max distance 128)",
                   **buckets}, f)
        f.write("\n")
    print(f"wrote {os.path.relpath(bpath, REPO)}")
    for spec in MODELS:
        if a.only and spec["name"] not in a.only.split(","):
            continue
        vocab = gen_fixtures.resolve(spec["vocab"], a.shared)
        if spec["vocab_transform"] == "mpnet":
            derived = os.path.join(a.work, spec["name"] + "-vocab.txt")
            mpnet_vocab(vocab, derived)
            vocab = derived
        model_dir = os.path.join(a.work, spec["name"])
        cmd = shlex.split(a.membed) + ["model", "synth", "--arch", spec["arch"], "--config", gen_fixtures.resolve(spec["config"], a.shared),
                                       "--vocab", vocab, "--seed", str(spec["seed"]), "--pooling", spec["pooling"],
                                       "--max-seq-length", str(spec["max_seq_length"]), "--out", model_dir]
        if not spec["normalize"]:
            cmd.append("--no-normalize")
        print("+ " + " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        digest = gen_fixtures.sha256(os.path.join(model_dir, "model.safetensors"))
        model = seed_models_ref.SentenceModel(model_dir)
        assert model.normalize == spec["normalize"] and model.max_seq_length == spec["max_seq_length"], spec["name"]
        tok = hf_tokenizer.Reference(os.path.join(model_dir, "vocab.txt"), lower=True, **spec["specials"])
        ids = [tok.encode(t, spec["max_seq_length"]) for t in TEXTS]
        if not any(len(x) == spec["max_seq_length"] for x in ids):
            raise SystemExit(f"{spec['name']}: no text reaches max_seq_length {spec['max_seq_length']}")
        pooled, emb = model.encode(ids)
        checks = seed_models_ref.self_check(model, ids)
        info = {"name": spec["name"], "arch": spec["arch"], "config": spec["config"], "vocab": spec["vocab"],
                "vocab_transform": spec["vocab_transform"], "seed": spec["seed"], "pooling": spec["pooling"],
                "max_seq_length": spec["max_seq_length"], "normalize": spec["normalize"], "safetensors_sha256": digest}
        cases = [{"text": t, "ids": x, "pooled": seed_models_ref.bert_ref.float32_list(p), "embedding": seed_models_ref.bert_ref.float32_list(e)}
                 for t, x, p, e in zip(TEXTS, ids, pooled, emb)]
        text = gen_fixtures.fixture_json(info, cases)
        size = len(text.encode("utf-8"))
        if size > MAX_FIXTURE_BYTES:
            raise SystemExit(f"{spec['name']}.json would be {size} bytes (> {MAX_FIXTURE_BYTES})")
        # MPNet's derived vocabulary is not something EncoderCliTests (which replays tests/fixtures/encoder through
        # the CLI) can rebuild, so its fixture lives beside it; ParityTests reads both directories.
        out_dir = a.out + "-mpnet" if spec["vocab_transform"] else a.out
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, spec["name"] + ".json")
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        print(f"wrote {os.path.relpath(path, REPO)}: {len(cases)} cases, {size} bytes, sha256 {digest}")
        for k, v in checks.items():
            print(f"  self-check {k}: max|d| = {v:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
