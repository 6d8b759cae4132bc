"""Torch reference outputs of an RGB-zoo task for given (e.g. merged) encoder weights.

    torch_reference.py --encoder-weights W.safetensors|W.pt (--head heads/<task>.onnx | --linear-head)
        --kind classification|segmentation|depth|normals --images a.png b.jpg ...
        --preprocessing '<json>' --out DIR

Writes DIR/<image name without extension>.logits.npy (classification, float32 [C]) or .out.npy (dense,
float32 [C,H,W] at the preprocessed input size: the head output upsampled bilinearly with align_corners=True;
normals are L2-normalised over channels after upsampling; segmentation stays as per-class scores).
ONNX heads are evaluated from their own graph and initializers with torch ops (common.run_onnx);
--linear-head takes head.weight [C,512] and head.bias [C] from the encoder weights file.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import encoder_from_weights, load_weights, preprocess, run_onnx  # noqa: E402


def reference_outputs(weights_path, head, kind, images, prep):
    """head: 'linear' or a path to an ONNX head. Returns a list of float32 arrays, one per image."""
    import onnx
    weights = load_weights(weights_path)
    dense = kind != "classification"
    encoder = encoder_from_weights(weights, "feature_map" if dense else "features")
    head_proto = None if head == "linear" else onnx.load(head)
    results = []
    with torch.no_grad():
        for path in images:
            x = torch.from_numpy(preprocess(path, prep))[None]
            features = encoder(x)
            if head_proto is None:
                out = F.linear(features, weights["head.weight"].float(), weights["head.bias"].float())
            else:
                feed = head_proto.graph.input[0].name
                out = run_onnx(head_proto, {feed: features})[0]
            if dense:
                out = F.interpolate(out, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=True)
                if kind == "normals":
                    out = F.normalize(out, dim=1)
            results.append(out[0].numpy().astype(np.float32))
    return results


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--encoder-weights", required=True)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--head")
    group.add_argument("--linear-head", action="store_true")
    parser.add_argument("--kind", required=True, choices=["classification", "segmentation", "depth", "normals"])
    parser.add_argument("--images", nargs="+", required=True)
    parser.add_argument("--preprocessing", required=True, help="JSON object, or @FILE (a metadata or preprocessing JSON)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    text = args.preprocessing
    if text.startswith("@"):
        with open(text[1:]) as f:
            text = f.read()
    prep = json.loads(text)
    prep = prep.get("preprocessing", prep)
    torch.set_num_threads(int(os.environ.get("RGBZOO_THREADS", "2")))
    head = "linear" if args.linear_head else args.head
    os.makedirs(args.out, exist_ok=True)
    suffix = ".logits.npy" if args.kind == "classification" else ".out.npy"
    for path, value in zip(args.images, reference_outputs(args.encoder_weights, head, args.kind, args.images, prep)):
        name = os.path.splitext(os.path.basename(path))[0]
        np.save(os.path.join(args.out, name + suffix), value)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
