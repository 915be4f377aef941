"""Minimal, independent safetensors reader/writer (numpy only).

Written from the format description (8-byte little-endian header length, JSON header mapping tensor names to
{dtype, shape, data_offsets} relative to the end of the header, then raw little-endian data). It deliberately
shares no code with the C# reader in src/ManagedEmbed.Encoder: it is the reference side of the parity tests.

Supported dtypes: F32, F16, BF16 (converted to float32 on load), I64 and I8 (both returned as int64).
"""
import json
import struct

import numpy as np

_DTYPES = {
    # name: (numpy dtype of the stored bytes, element size)
    "F32": (np.dtype("<f4"), 4),
    "F16": (np.dtype("<f2"), 2),
    "BF16": (np.dtype("<u2"), 2),
    "I64": (np.dtype("<i8"), 8),
    "I8": (np.dtype("i1"), 1),
}


class SafetensorsError(ValueError):
    pass


def _bf16_to_f32(raw_u16):
    # bfloat16 is the upper half of an IEEE float32: shift into place and reinterpret.
    return (raw_u16.astype(np.uint32) << 16).view(np.float32)


def read_header(data):
    """Parse and validate the header of a safetensors byte buffer. Returns (tensor_meta: dict, data_start: int)."""
    if len(data) < 8:
        raise SafetensorsError(f"file too short for a header length ({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise SafetensorsError(f"header length {n} exceeds file size {len(data)}")
    try:
        header = json.loads(bytes(data[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"header is not valid UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError("header is not a JSON object")
    start = 8 + n
    body = len(data) - start
    meta = {}
    ranges = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = info["dtype"]
            shape = [int(s) for s in info["shape"]]
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError(f"tensor '{name}': malformed entry {info!r}") from None
        if dtype not in _DTYPES:
            raise SafetensorsError(f"tensor '{name}': unsupported dtype {dtype}")
        if any(s < 0 for s in shape):
            raise SafetensorsError(f"tensor '{name}': negative dimension in {shape}")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not (0 <= begin <= end <= body):
            raise SafetensorsError(f"tensor '{name}': range [{begin},{end}) outside data of {body} bytes")
        if end - begin != count * _DTYPES[dtype][1]:
            raise SafetensorsError(
                f"tensor '{name}': shape {shape} x {dtype} needs {count * _DTYPES[dtype][1]} bytes, range has {end - begin}")
        meta[name] = (dtype, shape, begin, end)
        ranges.append((begin, end, name))
    ranges.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(ranges, ranges[1:]):
        if b1 < e0:
            raise SafetensorsError(f"tensors '{n0}' and '{n1}' overlap")
    return meta, start


def load(path):
    """Load every tensor of a safetensors file into a dict name -> numpy array (float32 or int64)."""
    with open(path, "rb") as f:
        data = f.read()
    meta, start = read_header(data)
    out = {}
    for name, (dtype, shape, begin, end) in meta.items():
        np_dtype, _ = _DTYPES[dtype]
        raw = np.frombuffer(data, dtype=np_dtype, count=(end - begin) // np_dtype.itemsize, offset=start + begin)
        if dtype == "BF16":
            arr = _bf16_to_f32(raw)
        elif dtype == "F16":
            arr = raw.astype(np.float32)
        elif dtype == "F32":
            arr = raw.astype(np.float32)  # copy: independent of the file buffer, native byte order
        else:
            arr = raw.astype(np.int64)
        out[name] = arr.reshape(shape)
    return out


def save(path, tensors, metadata=None):
    """Write a dict name -> numpy array (float32/float16/int64) as safetensors, names sorted, 8-byte aligned data.

    Only used by the reference self-tests to build small models; the fixtures use files written by `membed model synth`.
    """
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        if arr.dtype == np.float32:
            dt, raw = "F32", arr.astype("<f4").tobytes()
        elif arr.dtype == np.float16:
            dt, raw = "F16", arr.astype("<f2").tobytes()
        elif arr.dtype == np.int64:
            dt, raw = "I64", arr.astype("<i8").tobytes()
        else:
            raise SafetensorsError(f"tensor '{name}': cannot save dtype {arr.dtype}")
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - (8 + len(hjson)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
