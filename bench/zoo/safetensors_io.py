"""Minimal safetensors writer and validating reader (F32 only), standard library + numpy.

File layout:
    [0, 8)              header length H, unsigned 64-bit little-endian
    [8, 8 + H)          JSON header, UTF-8, padded with spaces to a multiple of 8:
                        {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [...],
                         "data_offsets": [begin, end]}, ...}   (offsets relative to the data section)
    [8 + H, end)        tensor data, little-endian, tensors back to back in header order, no gaps
Tensors are written in sorted name order so the same state dict always gives the same bytes.
"""
import json
import struct

import numpy as np

HEADER_LENGTH_FORMAT = "<Q"
HEADER_LENGTH_SIZE = 8
HEADER_ALIGNMENT = 8
METADATA_KEY = "__metadata__"
DTYPES = {"F32": np.dtype("<f4")}


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: array-like of float32}; metadata: optional {str: str}."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header[METADATA_KEY] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        array = np.ascontiguousarray(np.asarray(tensors[name]), dtype=DTYPES["F32"])
        blob = array.tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % HEADER_ALIGNMENT)
    with open(path, "wb") as f:
        f.write(struct.pack(HEADER_LENGTH_FORMAT, len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


class SafetensorsError(ValueError):
    pass


def read_safetensors(path):
    """Returns ({name: float32 ndarray}, metadata). Validates offsets, sizes and trailing bytes."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < HEADER_LENGTH_SIZE:
        raise SafetensorsError("%s: %d bytes, too short for the header length" % (path, len(raw)))
    (length,) = struct.unpack_from(HEADER_LENGTH_FORMAT, raw, 0)
    data_start = HEADER_LENGTH_SIZE + length
    if data_start > len(raw):
        raise SafetensorsError("%s: header length %d exceeds file size %d" % (path, length, len(raw)))
    header = json.loads(raw[HEADER_LENGTH_SIZE:data_start].decode("utf-8"))
    metadata = header.pop(METADATA_KEY, {})
    tensors, expected = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        dtype = DTYPES.get(info["dtype"])
        if dtype is None:
            raise SafetensorsError("%s: tensor %s has unsupported dtype %s" % (path, name, info["dtype"]))
        begin, end = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64))
        if begin != expected or end - begin != count * dtype.itemsize:
            raise SafetensorsError("%s: tensor %s has offsets [%d, %d), expected start %d and %d bytes"
                                   % (path, name, begin, end, expected, count * dtype.itemsize))
        tensors[name] = np.frombuffer(raw, dtype=dtype, count=count,
                                      offset=data_start + begin).reshape(info["shape"])
        expected = end
    if data_start + expected != len(raw):
        raise SafetensorsError("%s: %d trailing bytes after the last tensor"
                               % (path, len(raw) - data_start - expected))
    return tensors, metadata
