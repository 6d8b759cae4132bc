"""Prints edgetvq-pack pack arguments (one per line) for a zoo folder, and writes each task's metadata
(label names, preprocessing) as JSON next to the demo output. Usage: zoo_pack_args.py ZOO_DIR META_DIR"""
import json
import os
import sys

zoo, meta_dir = sys.argv[1], sys.argv[2]
with open(os.path.join(zoo, "manifest.json")) as f:
    manifest = json.load(f)
if not manifest.get("complete"):
    sys.exit("%s is not a complete zoo; run ./build.sh zoo --quick" % zoo)
os.makedirs(meta_dir, exist_ok=True)
print("--pretrained")
print(os.path.join(zoo, manifest["files"]["pretrained_pt"]))
for task in manifest["tasks"]:
    name = task["name"]
    meta_path = os.path.join(meta_dir, name + ".json")
    with open(meta_path, "w") as f:
        json.dump({"labels": task["label_names"], "preprocessing": manifest["preprocessing"],
                   "dataset": task["source"], "accuracy": task["accuracy"]["finetuned"]}, f, indent=1)
    print("--task")
    print("%s=%s" % (name, os.path.join(zoo, task["files"]["pt"])))
    print("--task-metadata")
    print("%s=%s" % (name, meta_path))
