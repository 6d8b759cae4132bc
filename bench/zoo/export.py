"""Writing zoo files: checkpoints (.pt + .safetensors), ONNX graphs, idx test sets, reference outputs."""
import collections

import numpy as np
import torch

from data import write_idx
from safetensors_io import write_safetensors

ONNX_OPSET = 13
IMAGE_INPUT, FEATURES_OUTPUT, LOGITS_OUTPUT = "image", "features", "logits"


def float_state_dict(module):
    """{name: contiguous float32 CPU tensor} in state-dict order; refuses non-float entries."""
    out = collections.OrderedDict()
    for name, tensor in module.state_dict().items():
        if tensor.dtype != torch.float32:
            raise TypeError("state-dict entry %s has dtype %s, expected float32" % (name, tensor.dtype))
        out[name] = tensor.detach().cpu().contiguous().clone()
    return out


def save_checkpoint(base_path, tensors, metadata):
    """Write <base>.pt (torch.save of the dict) and <base>.safetensors; returns both file names."""
    torch.save(tensors, base_path + ".pt")
    write_safetensors(base_path + ".safetensors", {k: v.numpy() for k, v in tensors.items()}, metadata)
    return base_path + ".pt", base_path + ".safetensors"


def export_encoder_onnx(encoder, path):
    """image [N, 1, 28, 28] -> features [N, dim]; initializer names = state-dict names."""
    encoder.eval()
    dummy = torch.zeros(2, 1, 28, 28)
    torch.onnx.export(encoder, dummy, path, input_names=[IMAGE_INPUT], output_names=[FEATURES_OUTPUT],
                      dynamic_axes={IMAGE_INPUT: {0: "N"}, FEATURES_OUTPUT: {0: "N"}},
                      opset_version=ONNX_OPSET, do_constant_folding=False, export_params=True)


def export_head_onnx(head, path):
    """features [N, dim] -> logits [N, classes]; initializers head.weight, head.bias."""
    head.eval()
    dummy = torch.zeros(2, head.head.in_features)
    torch.onnx.export(head, dummy, path, input_names=[FEATURES_OUTPUT], output_names=[LOGITS_OUTPUT],
                      dynamic_axes={FEATURES_OUTPUT: {0: "N"}, LOGITS_OUTPUT: {0: "N"}},
                      opset_version=ONNX_OPSET, do_constant_folding=False, export_params=True)


def write_test_set(base_path, split):
    """<base>.images.idx (uint8 idx3 [N, 28, 28]) and <base>.labels.idx (uint8 idx1 [N])."""
    labels = np.asarray(split.labels)
    if labels.min() < 0 or labels.max() > 255:
        raise ValueError("labels do not fit in uint8")
    write_idx(base_path + ".images.idx", split.images)
    write_idx(base_path + ".labels.idx", labels.astype(np.uint8))
    return base_path + ".images.idx", base_path + ".labels.idx"
