"""A small numpy evaluator for ONNX graphs (the operator subset torch.onnx exports for BERT + pooling).

onnx 1.12 (Debian) has no onnx.reference, and ONNX Runtime is only available to the C# peer benchmark, so
tools/export_onnx.py uses this to execute its exported graph and compare it with bert_ref.py. Semantics follow the
ONNX operator specs for opsets 13-17; an operator outside the subset raises NotImplementedError (never guessed).
"""
import math

import numpy as np
from onnx import helper, mapping, numpy_helper

_erf = np.frompyfunc(math.erf, 1, 1)


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _axes(node, ins, at, idx=1):
    if len(ins) > idx and ins[idx] is not None:
        return tuple(int(a) for a in ins[idx])
    if "axes" in at:
        return tuple(at["axes"])
    return None


def _reduce(fn):
    def op(node, ins, at):
        axes = _axes(node, ins, at)
        keep = bool(at.get("keepdims", 1))
        if axes is None and at.get("noop_with_empty_axes", 0):
            return ins[0]
        return fn(ins[0], axis=axes, keepdims=keep).astype(ins[0].dtype)
    return op


def _reshape(node, ins, at):
    x, shape = ins[0], [int(s) for s in ins[1]]
    if not at.get("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _slice(node, ins, at):
    x = ins[0]
    starts, ends = ins[1], ins[2]
    axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(starts))
    steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
    sl = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = int(a) % x.ndim
        n = x.shape[a]
        s, e, st = int(s), int(e), int(st)
        # Clamp as the spec does (ends like INT64_MAX mean "to the end").
        s = max(0, min(n, s + n if s < 0 else s)) if st > 0 else max(-1, min(n - 1, s + n if s < 0 else s))
        e = max(0, min(n, e + n if e < 0 else e)) if st > 0 else max(-1, min(n, e + n if e < 0 else e))
        sl[a] = slice(s, e if e >= 0 else None, st)
    return x[tuple(sl)]


def _softmax(node, ins, at):
    x = ins[0]
    ax = at.get("axis", -1)
    m = np.max(x, axis=ax, keepdims=True)
    e = np.exp(x - m)
    return (e / np.sum(e, axis=ax, keepdims=True)).astype(x.dtype)


def _cast(node, ins, at):
    return ins[0].astype(mapping.TENSOR_TYPE_TO_NP_TYPE[at["to"]])


def _binary(fn):
    return lambda node, ins, at: np.asarray(fn(ins[0], ins[1])).astype(np.result_type(ins[0], ins[1]))


def _pow(node, ins, at):
    return np.power(ins[0], ins[1]).astype(ins[0].dtype)


def _div(node, ins, at):
    a, b = ins
    if np.issubdtype(a.dtype, np.integer):
        return (a // b).astype(a.dtype)  # shape arithmetic only (non-negative here)
    return (a / b).astype(a.dtype)


def _clip(node, ins, at):
    x = ins[0]
    lo = ins[1] if len(ins) > 1 and ins[1] is not None else at.get("min")
    hi = ins[2] if len(ins) > 2 and ins[2] is not None else at.get("max")
    return np.clip(x, lo, hi).astype(x.dtype)


def _layer_norm(node, ins, at):
    # opset 17 LayerNormalization: normalize over axes [axis, rank), then scale and (optional) bias.
    x = ins[0]
    axis = at.get("axis", -1) % x.ndim
    axes = tuple(range(axis, x.ndim))
    mu = np.mean(x, axis=axes, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + np.float32(at.get("epsilon", 1e-5))) * ins[1]
    if len(ins) > 2 and ins[2] is not None:
        y = y + ins[2]
    return y.astype(x.dtype)


OPS = {
    "Add": _binary(np.add), "Sub": _binary(np.subtract), "Mul": _binary(np.multiply), "Div": _div, "Pow": _pow,
    "Sqrt": lambda n, i, a: np.sqrt(i[0]), "Tanh": lambda n, i, a: np.tanh(i[0]),
    "Erf": lambda n, i, a: _erf(i[0].astype(np.float64)).astype(i[0].dtype),
    "Relu": lambda n, i, a: np.maximum(i[0], 0).astype(i[0].dtype), "Neg": lambda n, i, a: -i[0],
    "Not": lambda n, i, a: np.logical_not(i[0]), "Identity": lambda n, i, a: i[0],
    "Equal": lambda n, i, a: np.equal(i[0], i[1]), "Where": lambda n, i, a: np.where(i[0], i[1], i[2]),
    "Max": lambda n, i, a: np.maximum.reduce(i), "Min": lambda n, i, a: np.minimum.reduce(i),
    "MatMul": lambda n, i, a: np.matmul(i[0], i[1]),
    "LayerNormalization": _layer_norm, "Cast": _cast, "Clip": _clip, "Softmax": _softmax, "Reshape": _reshape, "Slice": _slice,
    "Shape": lambda n, i, a: np.array(i[0].shape, dtype=np.int64),
    "Transpose": lambda n, i, a: np.transpose(i[0], a.get("perm")),
    "Unsqueeze": lambda n, i, a: np.expand_dims(i[0], tuple(int(x) for x in (i[1] if len(i) > 1 else a["axes"]))),
    "Squeeze": lambda n, i, a: np.squeeze(i[0], _axes(n, i, a)),
    "Concat": lambda n, i, a: np.concatenate(i, axis=a["axis"]),
    "Gather": lambda n, i, a: np.take(i[0], i[1], axis=a.get("axis", 0)),
    "Expand": lambda n, i, a: i[0] * np.ones(tuple(int(s) for s in i[1]), dtype=i[0].dtype),
    "Range": lambda n, i, a: np.arange(i[0], i[1], i[2]).astype(i[0].dtype),
    "ConstantOfShape": lambda n, i, a: np.full(tuple(int(s) for s in i[0]),
                                               numpy_helper.to_array(a["value"]).ravel()[0] if "value" in a else 0.0,
                                               dtype=numpy_helper.to_array(a["value"]).dtype if "value" in a
                                               else np.float32),
    "ReduceMean": _reduce(np.mean), "ReduceSum": _reduce(np.sum), "ReduceMax": _reduce(np.max),
    "ReduceL2": _reduce(lambda x, axis, keepdims: np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))),
}


def run(model, feeds):
    """Execute model.graph on the numpy feeds; returns {output name: array}."""
    env = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    env.update(feeds)
    env[""] = None
    for node in model.graph.node:
        at = _attrs(node)
        if node.op_type == "Constant":
            out = numpy_helper.to_array(at["value"])
        elif node.op_type in OPS:
            out = OPS[node.op_type](node, [env[n] for n in node.input], at)
        else:
            raise NotImplementedError(f"onnx_np_eval: operator {node.op_type} is not supported")
        env[node.output[0]] = np.asarray(out)
    return {o.name: env[o.name] for o in model.graph.output}
