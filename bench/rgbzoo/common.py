"""Shared pieces of the RGB zoo: the preprocessing contract, weight loading, and a small torch evaluator
for the ONNX graphs this zoo exports (used for self-checks and by torch_reference.py for ONNX heads)."""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO_ROOT, "bench", "zoo"))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402,F401

sys.path.insert(0, HERE)
from onnx_to_torch import ResNet18  # noqa: E402


# ---------------------------------------------------------------- preprocessing contract

def load_image(path_or_image, channels):
    """PIL image of the file, converted to 'L' (gray) or 'RGB' (for both rgb and bgr)."""
    from PIL import Image
    image = path_or_image if isinstance(path_or_image, Image.Image) else Image.open(path_or_image)
    return image.convert("L" if channels == "gray" else "RGB")


def preprocess(path_or_image, prep):
    """float32 [C,H,W] following the task metadata's preprocessing:
    convert to gray/RGB -> resize (int: shorter side, [H,W]: exact; PIL bilinear via torchvision) ->
    center crop -> float -> invert (255 - v, before scaling) -> * scale -> channel order (bgr reverses RGB)
    -> (v - mean[c]) / std[c], with mean/std given in the model's channel order."""
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode
    channels = prep.get("channels", "rgb")
    image = load_image(path_or_image, channels)
    if prep.get("resize") is not None:
        size = prep["resize"]
        image = TF.resize(image, size if isinstance(size, int) else list(size), InterpolationMode.BILINEAR)
    if prep.get("crop") is not None:
        image = TF.center_crop(image, list(prep["crop"]))
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    if prep.get("invert"):
        array = 255.0 - array
    array = array * np.float32(prep.get("scale", 1.0))
    if channels == "bgr":
        array = array[:, :, ::-1]
    mean = np.asarray(prep.get("mean", [0.0] * array.shape[2]), dtype=np.float32)
    std = np.asarray(prep.get("std", [1.0] * array.shape[2]), dtype=np.float32)
    array = (array - mean) / std
    return np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32)


# ---------------------------------------------------------------- weights

def load_weights(path):
    """{name: torch tensor} from a .safetensors or a torch .pt state dict."""
    if path.endswith(".safetensors"):
        tensors, _ = read_safetensors(path)
        return {k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}
    return dict(torch.load(path, map_location="cpu"))


def encoder_from_weights(weights, output):
    """ResNet18(output) in eval mode with the encoder tensors of `weights` (extra tensors such as head.* ignored;
    num_batches_tracked may be absent, it does not affect eval)."""
    model = ResNet18(output)
    state = model.state_dict()
    missing = [k for k in state if k not in weights and not k.endswith("num_batches_tracked")]
    if missing:
        raise KeyError("weights lack %d encoder tensors, e.g. %s" % (len(missing), missing[:3]))
    model.load_state_dict({k: weights.get(k, state[k]).to(state[k].dtype).reshape(state[k].shape)
                           for k in state})
    return model.eval()


# ---------------------------------------------------------------- small ONNX evaluator

def _attrs(node):
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def run_onnx(model_proto, feeds):
    """Evaluates a graph made of Conv, BatchNormalization (inference), Relu, Add, MaxPool, Pad (constant),
    ReduceMean, GlobalAveragePool, Flatten, Gemm, MatMul, Identity and Constant nodes with torch ops."""
    from onnx import numpy_helper
    values = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in model_proto.graph.initializer}
    values.update({k: torch.as_tensor(v) for k, v in feeds.items()})
    for node in model_proto.graph.node:
        a = _attrs(node)
        x = [values[i] if i else None for i in node.input]
        op = node.op_type
        if op == "Constant":
            y = torch.from_numpy(numpy_helper.to_array(a["value"]).copy())
        elif op == "Identity":
            y = x[0]
        elif op == "Conv":
            pads = list(a.get("pads", [0, 0, 0, 0]))
            inp = F.pad(x[0], (pads[1], pads[3], pads[0], pads[2]))
            y = F.conv2d(inp, x[1], x[2] if len(x) > 2 else None, stride=list(a.get("strides", [1, 1])),
                         dilation=list(a.get("dilations", [1, 1])), groups=a.get("group", 1))
        elif op == "BatchNormalization":
            y = F.batch_norm(x[0], x[3], x[4], x[1], x[2], False, 0.0, a.get("epsilon", 1e-5))
        elif op == "Relu":
            y = F.relu(x[0])
        elif op == "Add":
            y = x[0] + x[1]
        elif op == "MaxPool":
            pads = list(a.get("pads", [0, 0, 0, 0]))
            inp = F.pad(x[0], (pads[1], pads[3], pads[0], pads[2]), value=float("-inf"))
            y = F.max_pool2d(inp, list(a["kernel_shape"]), list(a.get("strides", [1, 1])))
        elif op == "Pad":
            p = [int(v) for v in x[1].tolist()]
            n = len(p) // 2
            torch_pads = []
            for d in reversed(range(n)):
                torch_pads += [p[d], p[d + n]]
            value = float(x[2]) if len(x) > 2 and x[2] is not None else 0.0
            y = F.pad(x[0], tuple(torch_pads), value=value)
        elif op == "ReduceMean":
            y = x[0].mean(dim=tuple(a["axes"]), keepdim=bool(a.get("keepdims", 1)))
        elif op == "GlobalAveragePool":
            y = x[0].mean(dim=(2, 3), keepdim=True)
        elif op == "Flatten":
            y = x[0].reshape(x[0].shape[0], -1)
        elif op == "Gemm":
            w = x[1].T if a.get("transB", 0) else x[1]
            y = a.get("alpha", 1.0) * (x[0] @ w) + (a.get("beta", 1.0) * x[2] if len(x) > 2 else 0)
        elif op == "MatMul":
            y = x[0] @ x[1]
        else:
            raise NotImplementedError("run_onnx: op %s" % op)
        values[node.output[0]] = y
    return [values[o.name] for o in model_proto.graph.output]
