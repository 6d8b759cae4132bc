"""Two real RGB-D pairs for evaluation only (never trained on): Middlebury stereo scenes with ground-truth
disparity turned into metric depth, center-cropped to the zoo's aspect and resized to its size.

Depth from disparity (rectified pair): Z = baseline * f / (d + doffs), with d the disparity in pixels at the
resolution f is given for and doffs the principal points' x offset (cx1 - cx0) at that resolution.

* motorcycle: scikit-image's `stereo_motorcycle()` (Middlebury 2014 "Motorcycle", left image, default
  exposure), downsampled by 4 with `downscale_local_mean` by scikit-image; its docstring gives the calibration
  for the downsampled images: f = 994.978 px, principal point x offset 31.086 px, baseline 193.001 mm (the
  full-size calib.txt: f = 3979.911, doffs = 124.343, baseline = 193.001). Disparity NaN/inf = unknown.
* aloe: Debian opencv-doc's `aloeL.jpg` / `aloeGT.png` (Middlebury 2006 "Aloe", full size 1282x1110, view 1);
  the PNG holds the disparity in pixels at that size (0 = unknown), as OpenCV's readGT reads it.
  Middlebury 2006 calibration: f = 3740 px, baseline 160 mm, and the disparity offset dmin of Aloe, 270 px
  (the images were cropped, so d + dmin is the full disparity). These values are quoted from the Middlebury
  2006 page from memory (no network here); the resulting depths, 1.2-1.9 m, fit the scene.

Resizing: the colour image with PIL bilinear (antialiased); the depth by nearest neighbour (each output pixel
takes the source pixel at its center), so 0 stays 0 (invalid) and no depths are mixed across edges.
"""
import os

import numpy as np

MOTORCYCLE = {"f_px": 994.978, "doffs_px": 31.086, "baseline_m": 0.193001,
              "source": "scikit-image 0.19 skimage.data.stereo_motorcycle() (Middlebury 2014 Motorcycle, left, "
                        "downsampled by 4 by scikit-image)",
              "note": "values from scikit-image's docstring for the downsampled images; full size: f 3979.911, "
                      "doffs 124.343, baseline 193.001 mm (Middlebury 2014 calib.txt)"}
ALOE = {"f_px": 3740.0, "doffs_px": 270.0, "baseline_m": 0.160,
        "source": "Debian opencv-doc 4.6.0 examples/data/aloeL.jpg + aloeGT.png (Middlebury 2006 Aloe, full size)",
        "note": "Middlebury 2006: f 3740 px, baseline 160 mm, Aloe dmin 270 px; quoted from memory, unverified"}
ALOE_FILES = "opencv-doc/usr/share/doc/opencv-doc/examples/data"


def center_crop_box(h, w, aspect):
    """(top, left, height, width) of the largest centered crop with height / width = aspect."""
    if h / w > aspect:
        ch = int(round(w * aspect))
        return (h - ch) // 2, 0, ch, w
    cw = int(round(h / aspect))
    return 0, (w - cw) // 2, h, cw


def resize_pair(image, depth, height, width):
    from PIL import Image
    top, left, ch, cw = center_crop_box(image.shape[0], image.shape[1], height / width)
    image = image[top:top + ch, left:left + cw]
    depth = depth[top:top + ch, left:left + cw]
    small = np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR), dtype=np.uint8)
    rows = ((np.arange(height) + 0.5) * ch / height).astype(int)
    cols = ((np.arange(width) + 0.5) * cw / width).astype(int)
    return small, depth[rows][:, cols].astype(np.float32), [int(top), int(left), int(ch), int(cw)]


def to_depth(disparity, calib):
    d = np.asarray(disparity, np.float64)
    valid = np.isfinite(d) & (d > 0)
    z = np.zeros(d.shape)
    z[valid] = calib["baseline_m"] * calib["f_px"] / (d[valid] + calib["doffs_px"])
    return z


def write(out, rgbzoo_data, dense_data, height, width):
    """Writes real/<name>.image.npy (uint8 [H,W,3] RGB) and real/<name>.depth.npy (float32 [H,W], m, 0 =
    invalid); returns the manifest entries."""
    import skimage.data as skd
    from PIL import Image
    left, _, disparity = skd.stereo_motorcycle()
    aloe_dir = os.path.join(dense_data, ALOE_FILES)
    aloe = np.asarray(Image.open(os.path.join(aloe_dir, "aloeL.jpg")).convert("RGB"))
    aloe_disp = np.asarray(Image.open(os.path.join(aloe_dir, "aloeGT.png")))
    entries = []
    os.makedirs(os.path.join(out, "real"), exist_ok=True)
    for name, image, disp, calib in (("motorcycle", left, disparity, MOTORCYCLE), ("aloe", aloe, aloe_disp, ALOE)):
        depth = to_depth(disp, calib)
        small, small_depth, box = resize_pair(image, depth, height, width)
        np.save(os.path.join(out, "real", name + ".image.npy"), small)
        np.save(os.path.join(out, "real", name + ".depth.npy"), small_depth)
        valid = small_depth > 0
        entries.append({"name": name, "image": "real/%s.image.npy" % name, "depth": "real/%s.depth.npy" % name,
                        "source": calib["source"],
                        "calibration": {k: calib[k] for k in ("f_px", "doffs_px", "baseline_m", "note")}
                        | {"formula": "depth_m = baseline_m * f_px / (disparity_px + doffs_px)"},
                        "original_size": [int(image.shape[0]), int(image.shape[1])], "crop_top_left_h_w": box,
                        "valid_fraction": round(float(valid.mean()), 4),
                        "depth_range_m": [round(float(small_depth[valid].min()), 3),
                                          round(float(small_depth[valid].max()), 3)]})
    return entries
