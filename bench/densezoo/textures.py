"""Texture pools for the renderer, all cut from real images (float32 [h,w,3] in 0..1):

  material  scikit-image's brick, gravel and grass photos, and crops of opencv-doc photos
  fabric    mosaics of Fashion-MNIST clothes (4x4 items, brightened), and the grass photo
  drawing   mosaics of QuickDraw drawings (dark strokes on white)
  photo     the colour photos of scikit-image (astronaut, coffee, chelsea, rocket, hubble_deep_field,
            immunohistochemistry, retina) and opencv-doc (fruits, baboon, home, squirrel_cls, butterfly,
            messi5, building, smarties): paintings, windows, tv screens
  plain     a flat white with faint noise (ceilings, tv frames, book covers; the tint gives the colour)

The Middlebury images used by the real-depth check (motorcycle, aloe) are not among them.
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SKIMAGE_PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina"]
SKIMAGE_MATERIALS = ["brick", "gravel", "grass"]
OPENCV_PHOTOS = ["fruits.jpg", "baboon.jpg", "home.jpg", "squirrel_cls.jpg", "butterfly.jpg", "messi5.jpg",
                 "building.jpg", "smarties.png"]
OPENCV_DATA = "opencv-doc/usr/share/doc/opencv-doc/examples/data"
MOSAICS = 12
PHOTO_SIDE = 128


def _shrink(array, side):
    from PIL import Image
    image = Image.fromarray(array)
    scale = side / max(image.size)
    if scale < 1:
        image = image.resize((max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale))),
                             Image.BILINEAR)
    out = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return out


def _mosaic(images, rng, count, grid=4):
    out = []
    for _ in range(count):
        pick = images[rng.randint(0, len(images), grid * grid)].astype(np.float32) / 255.0
        rows = [np.concatenate(list(pick[r * grid:(r + 1) * grid]), axis=1) for r in range(grid)]
        out.append(np.repeat(np.concatenate(rows, axis=0)[:, :, None], 3, axis=2))
    return out


def quickdraw_images():
    """[345*100, 28, 28] uint8 (white strokes on black), from bench/zoo's cache or its npm package."""
    cache = os.path.join(REPO_ROOT, ".cache", "zoo-data", "quickdraw-uint8.npz")
    if os.path.exists(cache):
        return np.load(cache)["images"].reshape(-1, 28, 28)
    sys.path.insert(0, os.path.join(REPO_ROOT, "bench", "zoo"))
    import data as zoo_data
    drawings = os.path.join(zoo_data._npm_unpack("quickdraw"), "src", "drawings")
    return zoo_data.QuickDraw(drawings).images.reshape(-1, 28, 28)


def fashion_images():
    sys.path.insert(0, os.path.join(REPO_ROOT, "bench", "zoo"))
    import data as zoo_data
    return zoo_data.load_fashion_mnist({"fashion_mnist": zoo_data.FASHION_DIR}).train.images


class Textures:
    def __init__(self, data_dir, seed=1234):
        import skimage.data as skd
        from PIL import Image
        rng = np.random.RandomState(seed)
        photos = [_shrink(getattr(skd, n)(), PHOTO_SIDE) for n in SKIMAGE_PHOTOS]
        opencv = [np.asarray(Image.open(os.path.join(data_dir, OPENCV_DATA, n)).convert("RGB"))
                  for n in OPENCV_PHOTOS]
        photos += [_shrink(a, PHOTO_SIDE) for a in opencv]
        materials = [_shrink(getattr(skd, n)(), PHOTO_SIDE) for n in SKIMAGE_MATERIALS]
        for a in opencv:   # 64x64 crops at a random place, as extra materials
            y, x = rng.randint(0, a.shape[0] - 64), rng.randint(0, a.shape[1] - 64)
            materials.append(a[y:y + 64, x:x + 64].astype(np.float32) / 255.0)
        fashion = [0.45 + 0.55 * m for m in _mosaic(fashion_images(), rng, MOSAICS)]
        drawings = [1.0 - 0.85 * m for m in _mosaic(quickdraw_images(), rng, MOSAICS)]
        plain = [np.clip(1.0 - np.abs(rng.normal(0, 0.03, (16, 16, 1))), 0, 1).repeat(3, axis=2).astype(np.float32)]
        self.pools = {"material": materials, "fabric": fashion + [materials[2]], "drawing": drawings,
                      "photo": photos, "plain": plain}

    def pick(self, rng, pool):
        textures = self.pools[pool]
        return textures[rng.randint(len(textures))]
