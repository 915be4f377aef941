#!/usr/bin/python3
"""Self-tests of the Python reference (safetensors_np + bert_ref) on small models built here with numpy.

Run: /usr/bin/python3 tools/reference/test_reference.py   (unittest; prints the max |Δ| of every check)
"""
import json
import os
import struct
import sys
import tempfile
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_ref  # noqa: E402
import safetensors_np  # noqa: E402

SMALL = {"hidden_size": 48, "num_attention_heads": 4, "num_hidden_layers": 2, "intermediate_size": 80,
         "max_position_embeddings": 40, "type_vocab_size": 2, "vocab_size": 300, "layer_norm_eps": 1e-7,
         "hidden_act": "gelu", "model_type": "bert", "position_embedding_type": "absolute"}


def random_weights(cfg, seed, prefix=""):
    rng = np.random.default_rng(seed)
    shapes = bert_ref._expected_shapes(cfg)
    out = {}
    for name, shape in shapes.items():
        if "LayerNorm.weight" in name:
            a = 1.0 + 0.1 * rng.standard_normal(shape)
        elif name.endswith("bias") or "embeddings" in name:
            a = 0.2 * rng.standard_normal(shape)
        else:  # dense weights [out, in]
            a = rng.standard_normal(shape) / np.sqrt(shape[1])
        out[prefix + name] = a.astype(np.float32)
    out[prefix + "embeddings.position_ids"] = np.arange(cfg["max_position_embeddings"], dtype=np.int64)[None]
    h = cfg["hidden_size"]
    out[prefix + "pooler.dense.weight"] = np.zeros((h, h), np.float32)
    out[prefix + "pooler.dense.bias"] = np.zeros((h,), np.float32)
    return out


def write_model_dir(d, cfg, seed=1, pooling="mean", normalize=True, max_seq_length=None, prefix="", tensors=None):
    os.makedirs(os.path.join(d, "1_Pooling"), exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    pc = {"word_embedding_dimension": cfg["hidden_size"]}
    for k in bert_ref.POOLING_KEYS:
        pc[k] = False
    modes = pooling.split("+")
    for m in modes:
        pc[{"cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens", "mean": "pooling_mode_mean_tokens",
            "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens"}[m]] = True
    with open(os.path.join(d, "1_Pooling", "config.json"), "w") as f:
        json.dump(pc, f)
    mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        mods.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    with open(os.path.join(d, "modules.json"), "w") as f:
        json.dump(mods, f)
    with open(os.path.join(d, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": max_seq_length or cfg["max_position_embeddings"], "do_lower_case": False}, f)
    safetensors_np.save(os.path.join(d, "model.safetensors"), tensors or random_weights(cfg, seed, prefix),
                        {"format": "pt"})


def random_ids(rng, n, cfg, lo=2, hi=None):
    hi = hi or cfg["max_position_embeddings"]
    return [[101] + [int(x) for x in rng.integers(1, cfg["vocab_size"], int(rng.integers(lo, hi - 1)))] + [102]
            for _ in range(n)]


REPORT = {}


class SafetensorsTests(unittest.TestCase):
    def test_roundtrip_dtypes(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "t.safetensors")
            a = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
            safetensors_np.save(p, {"a": a, "h": a.astype(np.float16), "i": np.arange(4, dtype=np.int64)})
            t = safetensors_np.load(p)
            np.testing.assert_array_equal(t["a"], a)
            np.testing.assert_array_equal(t["h"], a.astype(np.float16).astype(np.float32))
            np.testing.assert_array_equal(t["i"], np.arange(4))

    def _raw_file(self, d, header, body):
        h = json.dumps(header).encode()
        p = os.path.join(d, "x.safetensors")
        with open(p, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h + body)
        return p

    def test_bf16(self):
        vals = np.array([1.0, -2.5, 3.140625, 0.0], np.float32)
        bf = (vals.view(np.uint32) >> 16).astype("<u2").tobytes()
        with tempfile.TemporaryDirectory() as d:
            p = self._raw_file(d, {"b": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}}, bf)
            np.testing.assert_array_equal(safetensors_np.load(p)["b"], vals)

    def test_bad_files(self):
        cases = [
            ({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 12, "needs 12 bytes"),
            ({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}}, b"\0" * 8, "outside data"),
            ({"x": {"dtype": "Q8", "shape": [3], "data_offsets": [0, 3]}}, b"\0" * 3, "unsupported dtype"),
            ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12, "overlap"),
        ]
        with tempfile.TemporaryDirectory() as d:
            for header, body, msg in cases:
                p = self._raw_file(d, header, body)
                with self.assertRaisesRegex(safetensors_np.SafetensorsError, msg):
                    safetensors_np.load(p)
            p = os.path.join(d, "y.safetensors")
            with open(p, "wb") as f:
                f.write(struct.pack("<Q", 1000) + b"{}")
            with self.assertRaisesRegex(safetensors_np.SafetensorsError, "exceeds file size"):
                safetensors_np.load(p)

    def test_real_prefix_header(self):
        """The real all-MiniLM-L6-v2 header (../shared): names/shapes match what bert_ref expects."""
        p = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "models", "all-MiniLM-L6-v2",
                         "model.safetensors.prefix")
        with open(p, "rb") as f:
            data = f.read()
        with self.assertRaisesRegex(safetensors_np.SafetensorsError, "outside data"):
            safetensors_np.read_header(data)  # truncated file: later tensors are out of range
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + n])
        with open(os.path.join(os.path.dirname(p), "config.json")) as f:
            cfg = json.load(f)
        for name, shape in bert_ref._expected_shapes(cfg).items():
            self.assertEqual(tuple(header[name]["shape"]), shape, name)
        pos = header["embeddings.position_embeddings.weight"]
        b, e = pos["data_offsets"]
        arr = np.frombuffer(data, "<f4", (e - b) // 4, 8 + n + b)
        self.assertTrue(np.isfinite(arr).all() and np.abs(arr).max() > 0)


class BertRefTests(unittest.TestCase):
    def _check_model(self, tag, cfg, pooling, normalize, prefix=""):
        with tempfile.TemporaryDirectory() as d:
            write_model_dir(d, cfg, seed=5, pooling=pooling, normalize=normalize, prefix=prefix)
            m = bert_ref.SentenceModel(d)
            rng = np.random.default_rng(42)
            ids = random_ids(rng, 20, cfg) + [[101, 102], [101, 5, 102]]
            res = bert_ref.self_check(m, ids, batch_size=5)
            REPORT[tag] = res
            return m, ids

    def test_mean_normalize_gelu(self):
        self._check_model("mean+normalize, gelu", SMALL, "mean", True)

    def test_cls_gelu_new_bert_prefix(self):
        self._check_model("cls, gelu_new, bert. prefix", dict(SMALL, hidden_act="gelu_new"), "cls", False, "bert.")

    def test_max_relu(self):
        self._check_model("max, relu", dict(SMALL, hidden_act="relu"), "max", False)

    def test_mean_sqrt_len_tanh(self):
        self._check_model("mean_sqrt_len, gelu_pytorch_tanh", dict(SMALL, hidden_act="gelu_pytorch_tanh"),
                          "mean_sqrt_len", True)

    def test_concat_modes(self):
        m, ids = self._check_model("cls+max+mean", SMALL, "cls+max+mean", False)
        p, _ = m.encode(ids[:3])
        self.assertEqual(p.shape, (3, 3 * SMALL["hidden_size"]))

    def test_max_pool_sees_only_real_tokens(self):
        """With all hidden values negative, a padding position (masked to -1e9) must never be picked."""
        hid = -torch.rand(2, 6, 4) - 1.0
        mask = torch.tensor([[1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]])
        out = bert_ref.pool(hid, mask, {"pooling_mode_max_tokens": True})
        torch.testing.assert_close(out[0], hid[0, :2].max(0)[0], rtol=0, atol=0)

    def test_matches_numpy_float64_forward(self):
        """An explicit numpy float64 forward written from the HF formulas (no torch modules) agrees."""
        cfg = dict(SMALL, hidden_act="gelu_new")
        with tempfile.TemporaryDirectory() as d:
            write_model_dir(d, cfg, seed=9, pooling="mean", normalize=True)
            m = bert_ref.SentenceModel(d)
            w = {k: v.astype(np.float64) for k, v in safetensors_np.load(os.path.join(d, "model.safetensors")).items()
                 if v.dtype == np.float32}
            ids = random_ids(np.random.default_rng(3), 6, cfg)
            _, e = m.encode(ids, batch_size=3)
            worst = 0.0
            for r, seq in enumerate(ids):
                ref = numpy_forward(w, cfg, seq)
                ref = ref.mean(0)
                ref /= np.linalg.norm(ref)
                worst = max(worst, float(np.abs(ref - e[r]).max()))
            REPORT["numpy float64 forward vs bert_ref (embedding)"] = {"max": worst}
            self.assertLess(worst, 1e-5)

    def test_errors(self):
        with tempfile.TemporaryDirectory() as d:
            t = random_weights(SMALL, 1)
            del t["encoder.layer.1.output.dense.bias"]
            write_model_dir(d, SMALL, tensors=t)
            with self.assertRaisesRegex(bert_ref.ModelError, "missing tensor.*layer.1.output.dense.bias"):
                bert_ref.SentenceModel(d)
            t = random_weights(SMALL, 1)
            t["encoder.layer.0.intermediate.dense.weight"] = np.zeros((81, 48), np.float32)
            write_model_dir(d, SMALL, tensors=t)
            with self.assertRaisesRegex(bert_ref.ModelError, "intermediate.dense.weight.*shape"):
                bert_ref.SentenceModel(d)
            write_model_dir(d, SMALL, max_seq_length=10)
            m = bert_ref.SentenceModel(d)
            with self.assertRaisesRegex(bert_ref.ModelError, "exceed max_seq_length 10"):
                m.encode([[101] + [5] * 10 + [102]])


class OnnxExportTests(unittest.TestCase):
    def test_export_and_evaluate(self):
        import warnings
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
        import export_onnx
        for act, pooling, opset in [("gelu", "mean", 14), ("gelu_new", "cls+max", 17)]:
            with tempfile.TemporaryDirectory() as d:
                write_model_dir(d, dict(SMALL, hidden_act=act), seed=11, pooling=pooling, normalize=True)
                sm = bert_ref.SentenceModel(d)
                p = os.path.join(d, "m.onnx")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    export_onnx.export(export_onnx.SentenceGraph(sm).eval(), p,
                                       ["last_hidden_state", "sentence_embedding"], opset)
                res, ops = export_onnx.verify(sm, p, ["last_hidden_state", "sentence_embedding"])
                REPORT[f"onnx {act} {pooling} opset {opset}"] = res
                for v in res.values():
                    self.assertLess(v, 1e-5)


def numpy_forward(w, cfg, ids):
    def ln(x, g, b):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + cfg["layer_norm_eps"]) * g + b

    def lin(x, name):
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    t = len(ids)
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t] \
        + w["embeddings.token_type_embeddings.weight"][0]
    x = ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    nh = cfg["num_attention_heads"]
    hd = cfg["hidden_size"] // nh
    for L in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{L}."
        q, k, v = (lin(x, p + "attention.self." + n).reshape(t, nh, hd).transpose(1, 0, 2)
                   for n in ("query", "key", "value"))
        s = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(t, -1)
        a = ln(lin(ctx, p + "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"],
               w[p + "attention.output.LayerNorm.bias"])
        i = lin(a, p + "intermediate.dense")
        i = 0.5 * i * (1 + np.tanh(np.sqrt(2 / np.pi) * (i + 0.044715 * i ** 3)))
        x = ln(lin(i, p + "output.dense") + a, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    return x


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=1)
    for tag, res in REPORT.items():
        print(f"[{tag}] " + ", ".join(f"{k}={v:.3g}" for k, v in res.items()))
    sys.exit(0 if prog.result.wasSuccessful() else 1)
