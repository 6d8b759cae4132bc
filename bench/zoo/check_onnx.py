"""Checks that ONNX initializers and checkpoint files agree bit for bit with the state dicts.

    /usr/bin/python3 bench/zoo/check_onnx.py artifacts/zoo/quick-8tasks

For a zoo folder it checks, failing loudly on the first mismatch:
  - encoder.onnx: every pretrained state-dict tensor is an initializer with the same name, shape and
    bytes; there are no other initializers; the only graph input is `image`, the only output `features`;
  - every <task>.head.onnx: initializers are exactly head.weight / head.bias of <task>.safetensors,
    and every <task>.probe.head.onnx those of <task>.probe.safetensors;
  - pretrained.pt == pretrained.safetensors and <task>.pt == <task>.safetensors (names, shapes, bytes);
  - every task checkpoint holds the encoder names plus head.weight / head.bias.
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

from safetensors_io import read_safetensors

HEAD_KEYS = ("head.weight", "head.bias")


class CheckError(AssertionError):
    pass


def _same_bits(a, b):
    """Same float32 dtype, shape and bytes (NaN payloads and -0.0 included)."""
    return (a.dtype == np.float32 and b.dtype == np.float32 and a.shape == b.shape
            and a.tobytes() == b.tobytes())


def check_initializers(onnx_path, tensors, inputs, outputs):
    """Every tensor in `tensors` ({name: float32 ndarray}) is an identical initializer, and only those."""
    model = onnx.load(onnx_path)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    missing = [n for n in tensors if n not in inits]
    extra = [n for n in inits if n not in tensors]
    if missing or extra:
        raise CheckError("%s: initializers missing %s, unexpected %s" % (onnx_path, missing, extra))
    for name, expected in tensors.items():
        actual = inits[name]
        if not _same_bits(np.asarray(expected), actual):
            diff = (np.abs(actual.astype(np.float64) - expected).max()
                    if actual.shape == expected.shape else "n/a")
            raise CheckError("%s: initializer %s differs from the state dict (shape %s vs %s, "
                             "dtype %s, max |diff| %s)" % (onnx_path, name, actual.shape,
                                                          expected.shape, actual.dtype, diff))
    graph_inputs = [i.name for i in model.graph.input if i.name not in inits]
    graph_outputs = [o.name for o in model.graph.output]
    if graph_inputs != list(inputs) or graph_outputs != list(outputs):
        raise CheckError("%s: graph inputs %s / outputs %s, expected %s / %s"
                         % (onnx_path, graph_inputs, graph_outputs, list(inputs), list(outputs)))
    return len(inits)


def check_pt_matches(pt_path, tensors):
    import torch
    loaded = torch.load(pt_path, map_location="cpu")
    if list(sorted(loaded)) != list(sorted(tensors)):
        raise CheckError("%s: keys differ from the safetensors file: %s"
                         % (pt_path, sorted(set(loaded) ^ set(tensors))))
    for name, value in loaded.items():
        if not _same_bits(value.numpy(), tensors[name]):
            raise CheckError("%s: tensor %s differs from the safetensors file" % (pt_path, name))


def check_zoo(folder):
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    files = manifest["files"]
    encoder, _ = read_safetensors(os.path.join(folder, files["pretrained_safetensors"]))
    check_pt_matches(os.path.join(folder, files["pretrained_pt"]), encoder)
    count = check_initializers(os.path.join(folder, files["encoder_onnx"]), encoder,
                               ["image"], ["features"])
    for task in manifest["tasks"]:
        tf = task["files"]
        tensors, _ = read_safetensors(os.path.join(folder, tf["safetensors"]))
        expected_keys = sorted(list(encoder) + list(HEAD_KEYS))
        if sorted(tensors) != expected_keys:
            raise CheckError("%s: keys %s, expected encoder keys + head"
                             % (tf["safetensors"], sorted(set(tensors) ^ set(expected_keys))))
        for name in encoder:
            if tensors[name].shape != encoder[name].shape:
                raise CheckError("%s: %s has shape %s, pretrained %s" % (tf["safetensors"], name,
                                                                          tensors[name].shape,
                                                                          encoder[name].shape))
        check_pt_matches(os.path.join(folder, tf["pt"]), tensors)
        check_initializers(os.path.join(folder, tf["head_onnx"]), {k: tensors[k] for k in HEAD_KEYS},
                           ["features"], ["logits"])
        probe, _ = read_safetensors(os.path.join(folder, tf["probe_safetensors"]))
        if sorted(probe) != sorted(HEAD_KEYS):
            raise CheckError("%s: keys %s, expected %s" % (tf["probe_safetensors"], sorted(probe),
                                                           list(HEAD_KEYS)))
        check_initializers(os.path.join(folder, tf["probe_head_onnx"]), probe, ["features"], ["logits"])
    return count, len(manifest["tasks"])


def main(argv):
    if len(argv) != 2:
        print("usage: check_onnx.py ZOO_FOLDER", file=sys.stderr)
        return 2
    count, tasks = check_zoo(argv[1])
    print("check_onnx: OK: encoder.onnx has %d initializers equal to the state dict bit for bit; "
          "%d task checkpoints and heads agree" % (count, tasks))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
