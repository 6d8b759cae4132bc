"""Prepares the dense part of ./build.sh demo from a dense zoo (format edgetvq-dense-zoo): writes each task's metadata
(kind, labels, preprocessing) as JSON and two PNG inputs, the first rendered test room and the real Motorcycle photo,
into OUT_DIR, and prints the edgetvq-pack pack arguments (one per line). Usage: dense_demo_inputs.py ZOO_DIR OUT_DIR"""
import json
import os
import sys

import numpy as np
from PIL import Image

zoo, out = sys.argv[1], sys.argv[2]
with open(os.path.join(zoo, "manifest.json")) as f:
    manifest = json.load(f)
if manifest.get("format") != "edgetvq-dense-zoo" or not manifest.get("complete"):
    sys.exit("%s is not a complete dense zoo; run ./build.sh zoo --dense --quick" % zoo)
os.makedirs(out, exist_ok=True)
Image.fromarray(np.load(os.path.join(zoo, manifest["data"]["test_images"]), mmap_mode="r")[0]).save(os.path.join(out, "room.png"))
for real in manifest.get("real_depth", []):
    if real["name"] == "motorcycle":
        Image.fromarray(np.load(os.path.join(zoo, real["image"]))).save(os.path.join(out, "motorcycle.png"))
print("--pretrained")
print(os.path.join(zoo, manifest["files"]["pretrained_pt"]))
for task in manifest["tasks"]:
    name = task["name"]
    meta = {"kind": task["kind"], "preprocessing": manifest["preprocessing"]}
    if task.get("label_names"):
        meta["labels"] = task["label_names"]
    meta_path = os.path.join(out, name + ".json")
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    for flag, value in (("--task", task["files"]["pt"]), ("--task-metadata", meta_path), ("--head", task["files"]["head_onnx"])):
        print(flag)
        print("%s=%s" % (name, value if os.path.isabs(value) else os.path.join(zoo, value)))
