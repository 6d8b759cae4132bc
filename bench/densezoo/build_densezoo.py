"""Builds the dense zoo: rendered NYUv2-style rooms, the ImageNet ResNet-18 made dilated (output stride 8), and
one fine-tuned encoder + ASPP head per task (segmentation, depth, normals).

    build_densezoo.py [--size dev|quick|full] [--out DIR] [--data DIR] [--force] [--check]

See README.md for the layout. Seeded; deterministic for a fixed torch build and thread count.
"""
import argparse
import hashlib
import json
import os
import sys
import time
import warnings
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore", message="The value of the smallest subnormal")
warnings.filterwarnings("ignore", module="torch.onnx")
HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO_ROOT, "bench", "rgbzoo"))
sys.path.insert(0, HERE)
from build_rgbzoo import check_encoder_graph, export_onnx  # noqa: E402
from common import run_onnx, write_safetensors  # noqa: E402
from onnx_to_torch import load_cntk_resnet18, preprocessing_mean  # noqa: E402
from dense_model import OUTPUT_STRIDE, AsppHead, DilatedResNet18, upsample  # noqa: E402
import real_depth  # noqa: E402
from render import CLASSES, render  # noqa: E402

FORMAT = "edgetvq-dense-zoo"
FORMAT_VERSION = 1
DEFAULT_DATA = os.path.join(REPO_ROOT, ".cache", "rgbzoo-data")
DENSE_DATA = os.path.join(REPO_ROOT, ".cache", "densezoo-data")
THREADS = int(os.environ.get("DENSEZOO_THREADS", "2"))
TRAIN_COUNT, TEST_COUNT = 795, 654          # NYUv2's split sizes
TRAIN_SEED, TEST_SEED = 10_000_000, 20_000_000
ENCODER_LR, HEAD_LR = 1e-4, 1e-3
# size -> image size, fine-tuning steps per task, batch
SIZES = {
    "dev": {"height": 72, "width": 96, "steps": 6, "batch": 8},
    "quick": {"height": 72, "width": 96, "steps": 60, "batch": 8},
    "full": {"height": 144, "width": 192, "steps": 600, "batch": 8},
}
TASKS = [("segmentation", "segmentation", len(CLASSES)), ("depth", "depth", 1), ("normals", "normals", 3)]
START = time.time()


def cpu_seconds():
    """User + system CPU time of this process and its finished children (the render workers)."""
    import resource
    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def log(message):
    print("[densezoo %6.1fs] %s" % (time.time() - START, message), flush=True)


def code_version():
    """sha256 of this folder's .py/.sh files and of the rgbzoo modules it imports."""
    digest = hashlib.sha256()
    paths = [os.path.join(HERE, n) for n in sorted(os.listdir(HERE)) if n.endswith((".py", ".sh"))]
    paths += [os.path.join(REPO_ROOT, "bench", "rgbzoo", n) for n in ("build_rgbzoo.py", "common.py", "onnx_to_torch.py")]
    for path in paths:
        digest.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as f:
            digest.update(f.read() + b"\0")
    return digest.hexdigest()[:16]


def seed_of(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def write_json(path, value):
    with open(path + ".tmp", "w") as f:
        json.dump(value, f, indent=1)
    os.replace(path + ".tmp", path)


def default_out(size):
    return os.path.join(REPO_ROOT, "artifacts", "zoo", "dense-" + size)


def is_up_to_date(out, size):
    try:
        with open(os.path.join(out, "manifest.json")) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return False
    if not (manifest.get("complete") and manifest.get("format") == FORMAT
            and manifest.get("format_version") == FORMAT_VERSION and manifest.get("code_version") == code_version()
            and manifest.get("options") == {"size": size}):
        return False
    return all(os.path.exists(os.path.join(out, f)) for f in manifest["all_files"])


# ---------------------------------------------------------------- data

_TEXTURES = None


def _render_one(args):
    seed, height, width, data_dir = args
    global _TEXTURES
    if _TEXTURES is None:
        from textures import Textures
        _TEXTURES = Textures(data_dir)
    return render(seed, height, width, _TEXTURES)


def render_split(seeds, height, width, data_dir):
    """Renders the scenes in THREADS processes (each scene depends only on its seed)."""
    jobs = [(s, height, width, data_dir) for s in seeds]
    if THREADS > 1:
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(THREADS) as pool:
            results = pool.map(_render_one, jobs, chunksize=16)
    else:
        results = [_render_one(j) for j in jobs]
    return tuple(np.stack(parts) for parts in zip(*results))


def to_input(images, mean_bgr):
    """uint8 RGB [N,H,W,3] -> float32 [N,3,H,W]: BGR order, 0..255 minus the per-channel mean (the manifest's
    preprocessing with resize/crop being identities at the zoo's size)."""
    x = images[:, :, :, ::-1].astype(np.float32) - np.asarray(mean_bgr, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def check_preprocessing(images, inputs, preprocessing):
    """The network's inputs equal what the model contract's preprocessing (bench/rgbzoo/common.preprocess,
    which the runtime matches) makes of the stored test images."""
    from PIL import Image
    from common import preprocess
    for image, x in zip(images, inputs):
        want = preprocess(Image.fromarray(image), preprocessing)
        if not np.array_equal(want, x.numpy()):
            raise RuntimeError("training inputs differ from the preprocessing contract by %g"
                               % float(np.abs(want - x.numpy()).max()))


# ---------------------------------------------------------------- losses and metrics (mtan / FusionBench)

def task_loss(kind, out, target):
    pred = upsample(out, target.shape[-2:])
    if kind == "segmentation":
        return F.cross_entropy(pred, target, ignore_index=-1)
    if kind == "depth":
        valid = target != 0
        return (pred[:, 0][valid] - target[valid]).abs().mean()
    valid = target.abs().sum(dim=1) != 0
    pred = pred / pred.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return 1 - (pred * target).sum(dim=1)[valid].mean()


def metrics(kind, pred, target):
    """pred: the upsampled output [N,C,H,W] (torch); target as stored. Same definitions as
    bench/EdgeTvq.Eval/Dense/NyuMetrics.cs."""
    if kind == "segmentation":
        label = pred.argmax(1).numpy().ravel()
        t = target.ravel().astype(np.int64)
        keep = (t >= 0) & (t < len(CLASSES))
        conf = np.bincount(t[keep] * len(CLASSES) + label[keep], minlength=len(CLASSES) ** 2)
        conf = conf.reshape(len(CLASSES), len(CLASSES)).astype(np.float64)
        diag = np.diag(conf)
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = diag / (conf.sum(0) + conf.sum(1) - diag)
        return {"miou": float(np.mean(iou)), "pixacc": float(diag.sum() / conf.sum()),
                "iou": [None if np.isnan(v) else round(float(v), 4) for v in iou]}
    if kind == "depth":
        p = pred[:, 0].numpy().astype(np.float64)
        valid = target != 0
        err = np.abs(p[valid] - target[valid])
        return {"abs": float(err.mean()), "rel": float((err / target[valid]).mean())}
    p = pred.numpy().transpose(0, 2, 3, 1).astype(np.float64)
    valid = target.sum(axis=3) != 0
    p, t = p[valid], target[valid].astype(np.float64)
    dot = (p * t).sum(1) / np.linalg.norm(p, axis=1)
    err = np.degrees(np.arccos(np.clip(dot, -1, 1)))
    return {"mean": float(err.mean()), "median": float(np.sort(err)[(len(err) - 1) // 2]),
            "within_11_25": float((err < 11.25).mean()), "within_22_5": float((err < 22.5).mean()),
            "within_30": float((err < 30).mean())}


def baseline_output(kind, train_labels, train_depth, train_normals, n, height, width):
    """The trivial predictions: the train split's majority class, mean valid depth, mean valid normal."""
    if kind == "segmentation":
        counts = np.bincount(train_labels[train_labels >= 0].ravel(), minlength=len(CLASSES))
        out = torch.zeros(n, len(CLASSES), height, width)
        out[:, int(counts.argmax())] = 1
        return out, {"class": CLASSES[int(counts.argmax())]}
    if kind == "depth":
        mean = float(train_depth[train_depth != 0].mean())
        return torch.full((n, 1, height, width), mean), {"depth_m": round(mean, 4)}
    valid = train_normals.sum(axis=3) != 0
    mean = train_normals[valid].astype(np.float64).mean(0)
    mean /= np.linalg.norm(mean)
    return (torch.from_numpy(mean.astype(np.float32))[None, :, None, None].expand(n, 3, height, width).clone(),
            {"normal": [round(float(v), 4) for v in mean]})


def rounded(values):
    return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in values.items()}


# ---------------------------------------------------------------- model I/O

class Named(nn.Module):
    """Puts a head under the name `head` so its ONNX initializers are named as in the task checkpoint."""

    def __init__(self, head):
        super().__init__()
        self.head = head

    def forward(self, features):
        return self.head(features)


def float_state(module, prefix=""):
    return {prefix + k: v.detach().clone() for k, v in module.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def save_checkpoint(out, base, state):
    torch.save(state, os.path.join(out, base + ".pt"))
    write_safetensors(os.path.join(out, base + ".safetensors"), {k: v.numpy() for k, v in state.items()},
                      {"format": "pt"})
    return [base + ".pt", base + ".safetensors"]


def tidy_graph(model_proto, state, pad_values):
    """Restores initializers torch de-duplicated (equal tensors would lose their names), replaces the shape
    arithmetic torch emits for F.pad by constant pads, drops dead nodes and unused initializers."""
    import onnx
    from onnx import helper, numpy_helper
    g = model_proto.graph
    inits = {t.name: t for t in g.initializer}
    keep = []
    for node in g.node:
        if node.op_type == "Identity" and node.input[0] in inits and node.output[0] in state:
            g.initializer.append(numpy_helper.from_array(numpy_helper.to_array(inits[node.input[0]]), node.output[0]))
        else:
            keep.append(node)
    pads = [n for n in keep if n.op_type == "Pad"]
    if len(pads) != len(pad_values):
        raise RuntimeError("expected %d Pad nodes, found %d" % (len(pad_values), len(pads)))
    final = []
    for node in keep:
        if node.op_type == "Pad":
            index = pads.index(node)
            name = "pads_%d" % index
            final.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(
                np.array(pad_values[index], dtype=np.int64), name)))
            node.input[1] = name
            while len(node.input) > 2:
                node.input.pop()
        final.append(node)
    needed = {o.name for o in g.output}
    live = []
    for node in reversed(final):
        if any(o in needed for o in node.output):
            live.append(node)
            needed.update(i for i in node.input if i)
    live.reverse()
    del g.node[:]
    g.node.extend(live)
    used = {i for n in live for i in n.input}
    kept = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(kept)
    onnx.checker.check_model(model_proto)
    return model_proto


def check_initializers(model_proto, state, what):
    """The graph's float initializers are exactly `state`: same names, shapes and bits."""
    from onnx import numpy_helper
    inits = {t.name: numpy_helper.to_array(t) for t in model_proto.graph.initializer if t.data_type == 1}
    if set(inits) != set(state):
        raise RuntimeError("%s: initializers differ from the state dict: %s" % (what, sorted(set(inits) ^ set(state))[:6]))
    for name, value in state.items():
        a = value.numpy()
        if inits[name].shape != a.shape or inits[name].tobytes() != a.tobytes():
            raise RuntimeError("%s: initializer %s is not bit-identical to the state dict" % (what, name))


ENCODER_PADS = [[0, 0, 3, 3, 0, 0, 2, 2], [0, 0, 1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0, 0, 0]]  # stem, max pool, layer2.0


def export_encoder(model, state, height, width):
    proto = export_onnx(model, torch.zeros(1, 3, height, width), None, "image", "features", True)
    proto = tidy_graph(proto, state, ENCODER_PADS)
    check_initializers(proto, state, "encoder.onnx")
    ops, worst = check_encoder_graph(proto, model, state, [(height, width), (48, 64)])
    return proto, ops, worst


def export_head(head, channels, height, width):
    named = Named(head).eval()
    state = float_state(named)
    example = torch.zeros(1, 512, height // OUTPUT_STRIDE, width // OUTPUT_STRIDE)
    proto = export_onnx(named, example, None, "features", "output", True)
    proto = tidy_graph(proto, state, [])
    check_initializers(proto, state, "head.onnx")
    x = torch.from_numpy(np.random.RandomState(7).uniform(0, 3, (2, 512, height // 8, width // 8)).astype(np.float32))
    with torch.no_grad():
        want = named(x)
    got = run_onnx(proto, {"features": x})[0]
    if tuple(got.shape) != (2, channels, height // 8, width // 8):
        raise RuntimeError("head output shape %s" % (tuple(got.shape),))
    diff = float((got - want).abs().max() / (want.abs().max() + 1e-6))
    if diff > 1e-5:
        raise RuntimeError("ONNX head differs from torch: relative %.2e" % diff)
    return proto, diff


# ---------------------------------------------------------------- training

def finetune(name, kind, encoder, head, x, y, steps, batch):
    """Adam on the whole encoder (BatchNorm in train mode) and the head; random horizontal flips (normals'
    x negated). One torch thread with subnormals flushed, as in bench/rgbzoo (see its README)."""
    torch.manual_seed(seed_of(name))
    rng = np.random.RandomState(seed_of(name))
    optimizer = torch.optim.Adam([{"params": encoder.parameters(), "lr": ENCODER_LR},
                                  {"params": head.parameters(), "lr": HEAD_LR}])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    encoder.train()
    head.train()
    losses = []
    for _ in range(steps):
        index = torch.from_numpy(rng.randint(0, len(x), size=batch))
        xb, yb = x[index], y[index]
        flip = torch.from_numpy(rng.rand(batch) < 0.5)
        xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
        if kind == "normals":
            yf = yb.flip(-1) * torch.tensor([-1.0, 1.0, 1.0])[None, :, None, None]
            yb = torch.where(flip[:, None, None, None], yf, yb)
        else:
            yb = torch.where(flip.view(-1, *([1] * (yb.dim() - 1))), yb.flip(-1), yb)
        loss = task_loss(kind, head(encoder(xb)), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    torch.set_flush_denormal(False)
    torch.set_num_threads(threads)
    encoder.eval()
    head.eval()
    k = min(10, len(losses))
    return float(np.mean(losses[:k])), float(np.mean(losses[-k:]))


def predict(encoder, head, x, size, chunk=64):
    with torch.no_grad():
        return torch.cat([upsample(head(encoder(x[i:i + chunk])), size) for i in range(0, len(x), chunk)])


# ---------------------------------------------------------------- build

def build(out, size, data_dir):
    config = SIZES[size]
    height, width = config["height"], config["width"]
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True, warn_only=True)
    version = code_version()
    os.makedirs(os.path.join(out, "real"), exist_ok=True)
    manifest_path = os.path.join(out, "manifest.json")
    if os.path.exists(manifest_path):
        os.remove(manifest_path)
    timings = {}
    files = []

    # ---- data
    t0 = time.time()
    train = render_split(range(TRAIN_SEED, TRAIN_SEED + TRAIN_COUNT), height, width, data_dir)
    test = render_split(range(TEST_SEED, TEST_SEED + TEST_COUNT), height, width, data_dir)
    timings["render_s"] = round(time.time() - t0, 1)
    log("rendered %d train + %d test scenes at %dx%d (%.1f s)" % (TRAIN_COUNT, TEST_COUNT, height, width,
                                                                  timings["render_s"]))
    test_files = {"test_images": "test.images.npy", "test_segmentation": "test.segmentation.npy",
                  "test_depth": "test.depth.npy", "test_normals": "test.normals.npy"}
    for key, array in zip(("test_images", "test_segmentation", "test_depth", "test_normals"), test):
        np.save(os.path.join(out, test_files[key]), array)
        files.append(test_files[key])
    real = real_depth.write(out, data_dir, DENSE_DATA, height, width)
    files += [r["image"] for r in real] + [r["depth"] for r in real]

    # ---- pretrained encoder
    t0 = time.time()
    original = os.path.join(data_dir, "ResNet18.onnx")
    mean_bgr = [float(np.float32(m)) for m in preprocessing_mean(os.path.join(data_dir, "ResNetPreprocess.onnx"))[0]]
    cntk, _ = load_cntk_resnet18(original, "feature_map")
    encoder = DilatedResNet18()
    encoder.load_state_dict(cntk.state_dict())
    encoder.eval()
    pretrained = float_state(encoder)
    files += save_checkpoint(out, "pretrained", pretrained)
    proto, ops, worst = export_encoder(encoder, pretrained, height, width)
    with open(os.path.join(out, "encoder.onnx"), "wb") as f:
        f.write(proto.SerializeToString())
    files.append("encoder.onnx")
    timings["pretrained_s"] = round(time.time() - t0, 1)
    log("encoder.onnx exported and checked (relative difference %.1e, %.1f s)" % (worst, timings["pretrained_s"]))

    # ---- tasks
    x_train, x_test = to_input(train[0], mean_bgr), to_input(test[0], mean_bgr)
    preprocessing = {"channels": "bgr", "resize": [height, width], "crop": [height, width], "scale": 1.0,
                     "mean": mean_bgr, "std": [1.0, 1.0, 1.0], "invert": False}
    check_preprocessing(test[0][:4], x_test[:4], preprocessing)
    targets = {"segmentation": torch.from_numpy(train[1].astype(np.int64)),
               "depth": torch.from_numpy(train[2]),
               "normals": torch.from_numpy(np.ascontiguousarray(train[3].transpose(0, 3, 1, 2)))}
    test_targets = {"segmentation": test[1], "depth": test[2], "normals": test[3]}
    torch.manual_seed(seed_of("densezoo heads"))
    heads = {name: AsppHead(channels) for name, _, channels in TASKS}   # initialised once, in this order
    tasks = []
    trained = {}
    for name, kind, channels in TASKS:
        t0 = time.time()
        model = DilatedResNet18()
        model.load_state_dict(encoder.state_dict())
        head = heads[name]
        if kind == "depth":
            with torch.no_grad():
                head.out.bias.fill_(float(train[2][train[2] != 0].mean()))
        loss0, loss1 = finetune(name, kind, model, head, x_train, targets[name], config["steps"], config["batch"])
        t_train = time.time() - t0
        pred = predict(model, head, x_test, (height, width))
        result = metrics(kind, pred, test_targets[name])
        timings[name + "_eval_s"] = round(time.time() - t0 - t_train, 1)
        base_pred, base_value = baseline_output(kind, train[1], train[2], train[3], TEST_COUNT, height, width)
        baseline = metrics(kind, base_pred, test_targets[name])
        files += save_checkpoint(out, name, {**float_state(model), **float_state(head, "head.")})
        head_proto, head_diff = export_head(head, channels, height, width)
        with open(os.path.join(out, name + ".head.onnx"), "wb") as f:
            f.write(head_proto.SerializeToString())
        files.append(name + ".head.onnx")
        entry = {"name": name, "kind": kind, "output_channels": channels,
                 "files": {"pt": name + ".pt", "safetensors": name + ".safetensors", "head_onnx": name + ".head.onnx"},
                 "metrics": rounded(result), "baseline_metrics": rounded(baseline),
                 "baseline": base_value, "loss_first_last": [round(loss0, 4), round(loss1, 4)],
                 "head_onnx_max_relative_diff_vs_torch": head_diff}
        if kind == "segmentation":
            entry["num_classes"] = len(CLASSES)
            entry["label_names"] = CLASSES
        tasks.append(entry)
        trained[name] = (model, head)
        timings[name + "_train_s"] = round(t_train, 1)
        timings[name + "_s"] = round(time.time() - t0, 1)
        log("%s: %s vs baseline %s, loss %.3f -> %.3f (train %.1f s, all %.1f s)"
            % (name, {k: round(v, 4) for k, v in result.items() if k != "iou"},
               {k: round(v, 4) for k, v in baseline.items() if k != "iou"}, loss0, loss1, t_train, timings[name + "_s"]))

    # ---- the depth model on the real pairs (evaluation only; how far synthetic training carries)
    mean_depth = float(train[2][train[2] != 0].mean())
    for entry in real:
        image = np.load(os.path.join(out, entry["image"]))[None]
        depth = np.load(os.path.join(out, entry["depth"]))[None]
        pred = predict(*trained["depth"], to_input(image, mean_bgr), (height, width))
        entry["depth_task_metrics"] = rounded(metrics("depth", pred, depth))
        entry["baseline_metrics"] = rounded(metrics("depth", torch.full_like(pred, mean_depth), depth))
        log("real %s: depth task %s, constant %.2f m %s" % (entry["name"], entry["depth_task_metrics"], mean_depth,
                                                             entry["baseline_metrics"]))

    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "complete": False, "code_version": version,
        "options": {"size": size},
        "training": {"steps": config["steps"], "batch": config["batch"], "encoder_lr": ENCODER_LR,
                     "head_lr": HEAD_LR, "optimizer": "Adam", "train_threads": 1, "threads": THREADS},
        "image": {"height": height, "width": width},
        "preprocessing": preprocessing,
        "encoder": {"onnx": "encoder.onnx", "input": "image", "output": "features", "output_stride": OUTPUT_STRIDE,
                    "channels": 512, "ops": ops, "max_relative_diff_vs_torch": worst,
                    "model": "ResNet-18 (CNTK 2.6 ImageNet export, Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1), "
                             "layer3/layer4 dilated 2/4"},
        "files": {"pretrained_pt": "pretrained.pt", "pretrained_safetensors": "pretrained.safetensors",
                  "encoder_onnx": "encoder.onnx"},
        "tasks": tasks,
        "data": {**test_files, "test_count": TEST_COUNT, "train_count": TRAIN_COUNT, "synthetic": True,
                 "label_names": CLASSES, "ignore_label": -1, "depth_unit": "m", "depth_invalid": 0,
                 "normals_frame": "camera: x right, y up, z towards the camera; zero vector = invalid",
                 "train_seeds": [TRAIN_SEED, TRAIN_SEED + TRAIN_COUNT], "test_seeds": [TEST_SEED, TEST_SEED + TEST_COUNT]},
        "real_depth": real,
        "timings": timings,
    }
    manifest["all_files"] = sorted(set(files))
    timings["total_s"] = round(time.time() - START, 1)
    timings["cpu_s"] = round(cpu_seconds(), 1)
    manifest["complete"] = True
    write_json(manifest_path, manifest)
    return manifest


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=sorted(SIZES), default="quick")
    parser.add_argument("--out")
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 0 when --out is up to date, 1 otherwise")
    args = parser.parse_args(argv)
    out = os.path.abspath(args.out or default_out(args.size))
    if args.check:
        return 0 if is_up_to_date(out, args.size) else 1
    if not args.force and is_up_to_date(out, args.size):
        log("%s is up to date (code %s)" % (out, code_version()))
        return 0
    manifest = build(out, args.size, args.data)
    log("%s complete, total %.1f s" % (out, manifest["timings"]["total_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
