"""Writes an ONNX model whose initializers are the float32 tensors of a .safetensors file (names kept), for the
serve memory benchmark: the runtime reads θ_pre from it and binds merged weights to it.

    /usr/bin/python3 weights_onnx.py WEIGHTS.safetensors OUT.onnx USED_TENSOR

The graph is y = x · USED_TENSOR (a 2-D initializer, x of shape [1, rows]); the other initializers are unused
inputs once the runtime turns them into graph inputs, which ONNX Runtime accepts. Needs python3-onnx and numpy.
"""
import json
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        start, end = info["data_offsets"]
        yield name, np.frombuffer(data[start:end], dtype=np.float32).reshape(info["shape"])


def main(src, out, used):
    initializers = [numpy_helper.from_array(a, name) for name, a in read_safetensors(src)]
    w = next(i for i in initializers if i.name == used)
    rows, cols = w.dims
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", used], ["y"])],
        "weights",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, rows])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cols])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, out)


if __name__ == "__main__":
    main(*sys.argv[1:])
