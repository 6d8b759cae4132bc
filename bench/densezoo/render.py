"""Synthetic indoor rooms rendered by vectorised ray casting (numpy), with exact dense ground truth.

A scene is an axis-aligned room (floor, ceiling, four walls) holding furniture built from boxes (rotated about
the vertical axis), spheres and vertical cylinders, plus flat pictures and windows on the walls. Surfaces carry
textures cut from real images (see textures.py). A pinhole camera with NYUv2's Kinect intrinsics (scaled to the
image size) stands at a random pose inside the room; 1-2 point lights and an ambient term give Lambert shading
(no shadows, no inter-reflection). One primary ray per pixel.

Ground truth per pixel:
  * class: NYUv2's 13 classes (CLASSES); -1 (ignore) on some pixels at class boundaries;
  * depth: metric z-depth (distance along the optical axis) in meters, 0 = invalid, with Kinect-like holes:
    a band on the far side of depth edges (the projector's shadow), some other edge pixels, random dropout
    blobs, and the glass of some windows;
  * normals: unit vectors in the camera frame, x right, y up, z towards the camera (visible surfaces have
    z > 0); the zero vector where the depth is invalid.
World frame: y up, the room spans [0, X] x [0, Y] x [0, Z]. Everything is drawn from a numpy RandomState
seeded by the scene's seed, so a scene is a pure function of (seed, size, textures).
"""
import numpy as np

CLASSES = ["bed", "books", "ceiling", "chair", "floor", "furniture", "objects", "painting", "sofa", "table",
           "tv", "wall", "window"]
C = {name: i for i, name in enumerate(CLASSES)}

# NYUv2's colour camera (Kinect v1, 640x480): fx 518.86, fy 519.47; scaled to the rendered width.
NYU_FX, NYU_FY, NYU_WIDTH = 518.8579, 519.4696, 640.0
EPS = 1e-4
FAR = 1e9


def _rot_y(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


class Box:
    """Box with center c, half sizes h, rotated by `yaw` about the vertical axis. UV: the two face-plane
    coordinates in meters."""

    def __init__(self, center, half, yaw, label, material, face_material=None):
        self.c = np.asarray(center, float)
        self.h = np.asarray(half, float)
        self.R = _rot_y(yaw)               # local -> world
        self.label, self.material = label, material
        self.face_material = face_material  # (material for the local +z face, e.g. a tv screen)

    def intersect(self, o, d):
        # world -> local is R^T (x - c); R only rotates about y, so work per component (numpy reductions over a
        # length-3 axis are slow)
        cos, sin = self.R[0, 0], self.R[0, 2]
        ox, oy, oz = o[0] - self.c[0], o[1] - self.c[1], o[2] - self.c[2]
        lo = (cos * ox - sin * oz, oy, sin * ox + cos * oz)
        ld = (cos * d[:, 0] - sin * d[:, 2], d[:, 1], sin * d[:, 0] + cos * d[:, 2])
        tmin = tmax = None
        for axis in range(3):
            inv = 1.0 / np.where(np.abs(ld[axis]) < 1e-12, 1e-12, ld[axis])
            t1 = (-self.h[axis] - lo[axis]) * inv
            t2 = (self.h[axis] - lo[axis]) * inv
            near, far = np.minimum(t1, t2), np.maximum(t1, t2)
            tmin = near if tmin is None else np.maximum(tmin, near)
            tmax = far if tmax is None else np.minimum(tmax, far)
        hit = (tmax >= tmin) & (tmin > EPS)
        return np.where(hit, tmin, FAR)

    def inside(self, p):
        lp = (p - self.c) @ self.R
        return bool(np.all(np.abs(lp) < self.h + 0.05))

    def surface(self, p):
        lp = (p - self.c) @ self.R
        ratio = np.abs(lp) / self.h
        axis = ratio.argmax(axis=1)
        n_local = np.zeros_like(lp)
        n_local[np.arange(len(lp)), axis] = np.sign(lp[np.arange(len(lp)), axis])
        u = np.where(axis == 0, lp[:, 2], lp[:, 0])
        v = np.where(axis == 1, lp[:, 2], lp[:, 1])
        # for the +z face, u/v in [0, 1] over the face (used for screens)
        face = (axis == 2) & (lp[:, 2] > 0)
        uf = (lp[:, 0] / self.h[0] + 1) / 2
        vf = (1 - lp[:, 1] / self.h[1]) / 2
        return n_local @ self.R.T, u, v, face, uf, vf


class Sphere:
    def __init__(self, center, radius, label, material):
        self.c, self.r = np.asarray(center, float), float(radius)
        self.label, self.material, self.face_material = label, material, None

    def intersect(self, o, d):
        oc = o - self.c
        b = d @ oc
        disc = b * b - (oc @ oc - self.r ** 2)
        t = -b - np.sqrt(np.maximum(disc, 0))
        return np.where((disc > 0) & (t > EPS), t, FAR)

    def inside(self, p):
        return bool(np.linalg.norm(p - self.c) < self.r + 0.05)

    def surface(self, p):
        n = (p - self.c) / self.r
        u = np.arctan2(n[:, 2], n[:, 0]) * self.r
        v = np.arcsin(np.clip(n[:, 1], -1, 1)) * self.r
        none = np.zeros(len(p), bool)
        return n, u, v, none, u, v


class Cylinder:
    """Vertical cylinder, axis through (cx, cz), from y0 to y1, with caps."""

    def __init__(self, cx, cz, radius, y0, y1, label, material):
        self.cx, self.cz, self.r, self.y0, self.y1 = float(cx), float(cz), float(radius), float(y0), float(y1)
        self.label, self.material, self.face_material = label, material, None

    def intersect(self, o, d):
        ox, oz = o[0] - self.cx, o[2] - self.cz
        a = d[:, 0] ** 2 + d[:, 2] ** 2
        b = ox * d[:, 0] + oz * d[:, 2]
        cc = ox * ox + oz * oz - self.r ** 2
        disc = b * b - a * cc
        with np.errstate(divide="ignore", invalid="ignore"):
            t_side = (-b - np.sqrt(np.maximum(disc, 0))) / np.maximum(a, 1e-12)
        y = o[1] + t_side * d[:, 1]
        side_ok = (disc > 0) & (t_side > EPS) & (y >= self.y0) & (y <= self.y1)
        t = np.where(side_ok, t_side, FAR)
        for cap in (self.y0, self.y1):
            with np.errstate(divide="ignore", invalid="ignore"):
                tc = (cap - o[1]) / np.where(np.abs(d[:, 1]) < 1e-12, 1e-12, d[:, 1])
            px, pz = ox + tc * d[:, 0], oz + tc * d[:, 2]
            ok = (tc > EPS) & (px * px + pz * pz <= self.r ** 2)
            t = np.where(ok & (tc < t), tc, t)
        return t

    def inside(self, p):
        return bool(np.hypot(p[0] - self.cx, p[2] - self.cz) < self.r + 0.05 and self.y0 - 0.05 < p[1] < self.y1 + 0.05)

    def surface(self, p):
        dx, dz = p[:, 0] - self.cx, p[:, 2] - self.cz
        cap = (np.abs(p[:, 1] - self.y1) < 1e-6) | (np.abs(p[:, 1] - self.y0) < 1e-6)
        cap |= dx * dx + dz * dz < (self.r * 0.999) ** 2
        n = np.stack([dx / self.r, np.zeros_like(dx), dz / self.r], axis=1)
        top = p[:, 1] > (self.y0 + self.y1) / 2
        n[cap] = 0
        n[cap, 1] = np.where(top[cap], 1.0, -1.0)
        u = np.where(cap, dx, np.arctan2(dz, dx) * self.r)
        v = np.where(cap, dz, p[:, 1])
        none = np.zeros(len(p), bool)
        return n, u, v, none, u, v


class Material:
    """A texture (float [h,w,3] in 0..1) times a tint; `tile` meters per texture repeat; `emissive` adds
    the texture's colour regardless of lighting (screens, windows)."""

    def __init__(self, texture, tint=(1, 1, 1), tile=1.0, emissive=0.0, stretch=False):
        self.texture, self.tint = texture, np.asarray(tint, float)
        self.tile, self.emissive, self.stretch = tile, emissive, stretch

    def sample(self, u, v):
        th, tw = self.texture.shape[:2]
        if self.stretch:   # u, v in [0, 1] over the surface
            iu = np.clip((u * tw).astype(int), 0, tw - 1)
            iv = np.clip((v * th).astype(int), 0, th - 1)
        else:
            iu = np.floor(u / self.tile * tw).astype(int) % tw
            iv = np.floor(v / self.tile * th).astype(int) % th
        return self.texture[iv, iu] * self.tint


class Scene:
    """Room size, primitives, wall decals and lights, drawn at random from `rng` with `textures`."""

    def __init__(self, rng, textures):
        self.rng = rng
        self.size = np.array([rng.uniform(3.0, 6.0), rng.uniform(2.4, 3.0), rng.uniform(3.0, 7.0)])
        X, Y, Z = self.size
        t = textures
        # planes: 0 floor, 1 ceiling, 2 wall x=0, 3 wall x=X, 4 wall z=0, 5 wall z=Z
        wall = Material(t.pick(rng, "material"), rng.uniform(0.6, 1.0, 3), rng.uniform(0.8, 2.0))
        self.plane_materials = [Material(t.pick(rng, "material"), rng.uniform(0.35, 0.9, 3), rng.uniform(0.6, 1.5)),
                                Material(t.pick(rng, "plain"), rng.uniform(0.85, 1.0, 3), 2.0)] + [wall] * 4
        self.decals = []   # (plane index, u0, u1, v0, v1, label, material): u along the wall, v height
        for _ in range(rng.randint(0, 3)):
            self._decal(C["painting"], Material(t.pick(rng, "photo"), (1, 1, 1), stretch=True))
        for _ in range(rng.randint(0, 3)):
            m = Material(t.pick(rng, "photo"), rng.uniform(0.7, 1.0, 3), stretch=True, emissive=0.8)
            self._decal(C["window"], m, window=True)
        self.objects = []
        self.support = []   # (x, z, top height, half extent) of tops things may stand on
        for _ in range(rng.randint(4, 10)):
            kind = rng.choice(["bed", "table", "chair", "sofa", "furniture", "tv", "books", "objects", "objects"],
                              p=[0.09, 0.15, 0.16, 0.09, 0.16, 0.08, 0.1, 0.09, 0.08])
            getattr(self, "_" + kind)(t)
        self.lights = []
        for _ in range(rng.randint(1, 3)):
            pos = np.array([rng.uniform(0.5, X - 0.5), Y - rng.uniform(0.1, 0.6), rng.uniform(0.5, Z - 0.5)])
            self.lights.append((pos, rng.uniform(0.6, 1.1) * rng.uniform(0.85, 1.0, 3)))
        self.ambient = rng.uniform(0.2, 0.35)

    # ---- placement helpers
    def _floor_spot(self, half_x, half_z, against_wall=False):
        """(x, z, yaw) with the footprint inside the room; against_wall puts the back on a random wall."""
        X, _, Z = self.size
        rng = self.rng
        if against_wall:
            side = rng.randint(4)
            yaw = [0.0, np.pi, np.pi / 2, -np.pi / 2][side]
            along = rng.uniform(0.2, 0.8)
            if side == 0:
                return along * X, half_z + 0.02, yaw
            if side == 1:
                return along * X, Z - half_z - 0.02, yaw
            if side == 2:
                return half_z + 0.02, along * Z, yaw
            return X - half_z - 0.02, along * Z, yaw
        r = max(half_x, half_z)
        return rng.uniform(r, max(r + 0.01, X - r)), rng.uniform(r, max(r + 0.01, Z - r)), rng.uniform(-np.pi, np.pi)

    def _parts(self, x, z, yaw, parts, label, material):
        """Boxes given in the object's frame as (offset, half size) -> world boxes."""
        R = _rot_y(yaw)
        for offset, half in parts:
            self.objects.append(Box(np.array([x, 0, z]) + R @ np.asarray(offset, float), half, yaw, label, material))

    def _decal(self, label, material, window=False):
        X, Y, Z = self.size
        rng = self.rng
        plane = rng.randint(2, 6)
        length = X if plane in (4, 5) else Z
        w = rng.uniform(0.5, 1.4) if not window else rng.uniform(0.8, 1.8)
        h = rng.uniform(0.4, 1.0) if not window else rng.uniform(0.9, 1.4)
        u0 = rng.uniform(0.1, max(0.11, length - w - 0.1))
        v0 = rng.uniform(1.0, max(1.01, Y - h - 0.15)) if not window else rng.uniform(0.8, max(0.81, Y - h - 0.2))
        self.decals.append((plane, u0, u0 + w, v0, v0 + h, label, material, window))

    # ---- object kinds (NYUv2 classes)
    def _bed(self, t):
        rng = self.rng
        w, l, h = rng.uniform(1.0, 1.9), rng.uniform(1.9, 2.1), rng.uniform(0.4, 0.6)
        x, z, yaw = self._floor_spot(w / 2, l / 2, against_wall=True)
        m = Material(t.pick(rng, "fabric"), rng.uniform(0.5, 1.0, 3), rng.uniform(0.3, 0.8))
        self._parts(x, z, yaw, [((0, h / 2, 0), (w / 2, h / 2, l / 2)),
                                ((0, 0.5, -l / 2 + 0.04), (w / 2, 0.5, 0.04)),
                                ((0, h + 0.06, -l / 2 + 0.3), (w / 2 - 0.1, 0.06, 0.2))], C["bed"], m)

    def _table(self, t):
        rng = self.rng
        w, l, h = rng.uniform(0.7, 1.6), rng.uniform(0.6, 1.0), rng.uniform(0.65, 0.8)
        x, z, yaw = self._floor_spot(w / 2, l / 2)
        m = Material(t.pick(rng, "material"), rng.uniform(0.4, 0.9, 3), rng.uniform(0.4, 1.0))
        parts = [((0, h - 0.02, 0), (w / 2, 0.02, l / 2))]
        for sx in (-1, 1):
            for sz in (-1, 1):
                parts.append(((sx * (w / 2 - 0.05), (h - 0.04) / 2, sz * (l / 2 - 0.05)), (0.03, (h - 0.04) / 2, 0.03)))
        self._parts(x, z, yaw, parts, C["table"], m)
        self.support.append((x, z, h, min(w, l) / 2 - 0.1))

    def _chair(self, t):
        rng = self.rng
        s, h = rng.uniform(0.4, 0.5), rng.uniform(0.42, 0.48)
        x, z, yaw = self._floor_spot(s / 2, s / 2)
        m = Material(t.pick(rng, rng.choice(["material", "fabric"])), rng.uniform(0.3, 1.0, 3), rng.uniform(0.3, 0.8))
        parts = [((0, h - 0.025, 0), (s / 2, 0.025, s / 2)),
                 ((0, h + 0.25, -s / 2 + 0.02), (s / 2, 0.25, 0.02))]
        for sx in (-1, 1):
            for sz in (-1, 1):
                parts.append(((sx * (s / 2 - 0.03), (h - 0.05) / 2, sz * (s / 2 - 0.03)), (0.02, (h - 0.05) / 2, 0.02)))
        self._parts(x, z, yaw, parts, C["chair"], m)

    def _sofa(self, t):
        rng = self.rng
        w, l = rng.uniform(1.5, 2.3), rng.uniform(0.8, 0.95)
        x, z, yaw = self._floor_spot(w / 2, l / 2, against_wall=rng.rand() < 0.6)
        m = Material(t.pick(rng, "fabric"), rng.uniform(0.3, 0.9, 3), rng.uniform(0.3, 0.8))
        self._parts(x, z, yaw, [((0, 0.21, 0.05), (w / 2 - 0.15, 0.21, l / 2 - 0.05)),
                                ((0, 0.42, -l / 2 + 0.1), (w / 2, 0.42, 0.1)),
                                ((-w / 2 + 0.08, 0.3, 0), (0.08, 0.3, l / 2)),
                                ((w / 2 - 0.08, 0.3, 0), (0.08, 0.3, l / 2))], C["sofa"], m)

    def _furniture(self, t):
        rng = self.rng
        w, d, h = rng.uniform(0.4, 1.3), rng.uniform(0.35, 0.6), rng.uniform(0.5, 2.0)
        x, z, yaw = self._floor_spot(w / 2, d / 2, against_wall=rng.rand() < 0.8)
        m = Material(t.pick(rng, "material"), rng.uniform(0.3, 0.9, 3), rng.uniform(0.4, 1.2))
        self._parts(x, z, yaw, [((0, h / 2, 0), (w / 2, h / 2, d / 2))], C["furniture"], m)
        if h < 1.3:
            self.support.append((x, z, h, min(w, d) / 2 - 0.05))

    def _on_support(self, extent):
        """(x, z, base height): on a table/cabinet top when there is one (60 %), else on the floor."""
        rng = self.rng
        if self.support and rng.rand() < 0.6:
            x, z, h, r = self.support[rng.randint(len(self.support))]
            r = max(r - extent, 0.0)
            return x + rng.uniform(-r, r), z + rng.uniform(-r, r), h
        X, _, Z = self.size
        return rng.uniform(0.3, X - 0.3), rng.uniform(0.3, Z - 0.3), 0.0

    def _tv(self, t):
        rng = self.rng
        w, h, d = rng.uniform(0.7, 1.3), rng.uniform(0.45, 0.75), rng.uniform(0.04, 0.1)
        frame = Material(t.pick(rng, "plain"), rng.uniform(0.03, 0.15) * np.ones(3), 1.0)
        screen = Material(t.pick(rng, "photo"), rng.uniform(0.6, 1.0, 3), stretch=True, emissive=0.6)
        if self.support and rng.rand() < 0.6:
            x, z, base = self._on_support(0.0)
            yaw = rng.uniform(-np.pi, np.pi)
        else:
            x, z, yaw = self._floor_spot(w / 2, d / 2, against_wall=True)
            base = rng.uniform(0.8, 1.3)
        box = Box(np.array([x, base + h / 2, z]), (w / 2, h / 2, d / 2), yaw, C["tv"], frame)
        box.face_material = screen
        self.objects.append(box)

    def _books(self, t):
        rng = self.rng
        x, z, base = self._on_support(0.2)
        yaw = rng.uniform(-np.pi, np.pi)
        R = _rot_y(yaw)
        offset = 0.0
        for _ in range(rng.randint(2, 8)):
            th, bh, bd = rng.uniform(0.02, 0.06), rng.uniform(0.15, 0.3), rng.uniform(0.12, 0.22)
            m = Material(t.pick(rng, rng.choice(["plain", "drawing"])), rng.uniform(0.1, 1.0, 3), 0.3)
            center = np.array([x, base + bh / 2, z]) + R @ np.array([offset + th / 2, 0, 0])
            self.objects.append(Box(center, (th / 2, bh / 2, bd / 2), yaw, C["books"], m))
            offset += th + 0.003

    def _objects(self, t):
        rng = self.rng
        m = Material(t.pick(rng, rng.choice(["material", "plain", "drawing"])), rng.uniform(0.2, 1.0, 3),
                     rng.uniform(0.2, 0.6))
        if rng.rand() < 0.45:
            r = rng.uniform(0.08, 0.3)
            x, z, base = self._on_support(r)
            self.objects.append(Sphere((x, base + r, z), r, C["objects"], m))
        else:
            r, h = rng.uniform(0.06, 0.25), rng.uniform(0.15, 1.1)
            x, z, base = self._on_support(r)
            self.objects.append(Cylinder(x, z, r, base, base + h, C["objects"], m))

    # ---- camera
    def camera(self, width):
        """(origin, right, up, forward) for a random pose inside the room, not inside any object."""
        rng = self.rng
        X, Y, Z = self.size
        for _ in range(100):
            o = np.array([rng.uniform(0.3, X - 0.3), rng.uniform(1.0, min(1.8, Y - 0.3)), rng.uniform(0.3, Z - 0.3)])
            if not any(obj.inside(o) for obj in self.objects):
                break
        # look towards a random point of the room, at least 1.5 m away when possible
        for _ in range(20):
            target = np.array([rng.uniform(0, X), 0.0, rng.uniform(0, Z)])
            if np.hypot(*(target - o)[[0, 2]]) > 1.5:
                break
        yaw = np.arctan2(target[0] - o[0], target[2] - o[2]) + rng.uniform(-0.2, 0.2)
        pitch = np.radians(rng.uniform(-30, 5))
        roll = np.radians(rng.uniform(-4, 4))
        forward = np.array([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)])
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        right, up = right * np.cos(roll) + up * np.sin(roll), up * np.cos(roll) - right * np.sin(roll)
        return o, right, up, forward


def _room_hit(size, o, d):
    """Distance to the room's inside and which plane (0 floor, 1 ceiling, 2 x=0, 3 x=X, 4 z=0, 5 z=Z)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        safe = np.where(np.abs(d) < 1e-12, 1e-12, d)
        t_axis = np.where(d > 0, (size - o) / safe, (0 - o) / safe)
    t_axis = np.where(t_axis > 0, t_axis, FAR)
    axis = t_axis.argmin(axis=1)
    t = t_axis[np.arange(len(d)), axis]
    positive = d[np.arange(len(d)), axis] > 0
    plane = np.select([axis == 1, axis == 0, axis == 2], [np.where(positive, 1, 0), np.where(positive, 3, 2),
                                                          np.where(positive, 5, 4)])
    return t, plane


PLANE_NORMALS = np.array([[0, 1, 0], [0, -1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1], [0, 0, -1]], float)


def render(seed, height, width, textures):
    """One scene: (image uint8 [H,W,3] RGB, labels int16 [H,W] in -1..12, depth float32 [H,W] meters
    (0 invalid), normals float32 [H,W,3] camera frame (0 invalid))."""
    rng = np.random.RandomState(seed)
    scene = Scene(rng, textures)
    o, right, up, forward = scene.camera(width)
    fx = NYU_FX * width / NYU_WIDTH
    fy = NYU_FY * width / NYU_WIDTH
    ys, xs = np.mgrid[0:height, 0:width]
    px = (xs.ravel() + 0.5 - width / 2) / fx
    py = (ys.ravel() + 0.5 - height / 2) / fy
    d = forward[None] + px[:, None] * right[None] - py[:, None] * up[None]
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    n_rays = len(d)
    origin = np.broadcast_to(o, d.shape)

    t_best, plane = _room_hit(scene.size, origin, d)
    best = np.full(n_rays, -1)
    for k, obj in enumerate(scene.objects):
        t = obj.intersect(o, d)
        closer = t < t_best
        t_best = np.where(closer, t, t_best)
        best = np.where(closer, k, best)
    p = origin + t_best[:, None] * d

    normal = np.zeros((n_rays, 3))
    albedo = np.zeros((n_rays, 3))
    emit = np.zeros((n_rays, 3))
    label = np.zeros(n_rays, np.int16)
    glass = np.zeros(n_rays, bool)
    X, Y, Z = scene.size
    # room planes and their decals
    room = best < 0
    for k in range(6):
        m = room & (plane == k)
        if not m.any():
            continue
        q = p[m]
        if k in (0, 1):
            u, v = q[:, 0], q[:, 2]
        elif k in (2, 3):
            u, v = q[:, 2], q[:, 1]
        else:
            u, v = q[:, 0], q[:, 1]
        normal[m] = PLANE_NORMALS[k]
        albedo[m] = scene.plane_materials[k].sample(u, v)
        label[m] = C["floor"] if k == 0 else C["ceiling"] if k == 1 else C["wall"]
        for (dp, u0, u1, v0, v1, dlabel, dmat, window) in scene.decals:
            if dp != k:
                continue
            inside = (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)
            if not inside.any():
                continue
            idx = np.flatnonzero(m)[inside]
            uu = (u[inside] - u0) / (u1 - u0)
            vv = 1 - (v[inside] - v0) / (v1 - v0)
            colour = dmat.sample(uu, vv)
            border = (np.minimum(uu, 1 - uu) * (u1 - u0) < 0.03) | (np.minimum(vv, 1 - vv) * (v1 - v0) < 0.03)
            colour[border] = 0.9 if window else 0.15
            albedo[idx] = colour
            if window:
                emit[idx] = np.where(border[:, None], 0.0, colour * dmat.emissive)
                glass[idx] = ~border
            label[idx] = dlabel
    for k, obj in enumerate(scene.objects):
        m = best == k
        if not m.any():
            continue
        n, u, v, face, uf, vf = obj.surface(p[m])
        normal[m] = n
        colour = obj.material.sample(u, v)
        if obj.face_material is not None and face.any():
            colour[face] = obj.face_material.sample(uf[face], vf[face])
            idx = np.flatnonzero(m)[face]
            emit[idx] = colour[face] * obj.face_material.emissive
        albedo[m] = colour
        label[m] = obj.label

    # face the camera
    flip = (normal * d).sum(axis=1) > 0
    normal[flip] *= -1
    shade = np.full((n_rays, 1), scene.ambient)
    for pos, colour in scene.lights:
        to_light = pos[None] - p
        dist2 = (to_light ** 2).sum(axis=1, keepdims=True)
        lambert = np.maximum((normal * to_light).sum(axis=1, keepdims=True), 0) / np.sqrt(dist2)
        shade = shade + lambert * colour[None] * (4.0 / (2.0 + dist2))
    image = albedo * shade + emit
    image = image + rng.normal(0, 0.01, image.shape)
    image = np.clip(image, 0, 1) ** (1 / 1.4)
    image = (image * 255 + 0.5).astype(np.uint8).reshape(height, width, 3)

    depth = (t_best * (d @ forward)).reshape(height, width)
    cam_normal = np.stack([normal @ right, normal @ up, -(normal @ forward)], axis=1).reshape(height, width, 3)
    labels = label.reshape(height, width).copy()
    valid = _kinect_valid(rng, depth, glass.reshape(height, width))
    depth = np.where(valid, depth, 0).astype(np.float32)
    cam_normal = np.where(valid[:, :, None], cam_normal, 0).astype(np.float32)
    # ignore label on a random half of the class-boundary pixels
    edge = np.zeros_like(valid)
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:-1] |= labels[:-1] != labels[1:]
    labels[edge & (rng.rand(height, width) < 0.5)] = -1
    return image, labels.astype(np.int16), depth, cam_normal


def _kinect_valid(rng, depth, glass):
    """Validity mask with Kinect-like holes: the background side of depth edges (a 1-2 px band, as the
    projector's shadow), some other edge pixels, a few dropout blobs, and the glass of some windows."""
    h, w = depth.shape
    valid = np.ones((h, w), bool)
    jump = 0.04 * depth[:, :-1] + 0.05
    far_left = depth[:, :-1] - depth[:, 1:] > jump     # left pixel is the background
    far_right = depth[:, 1:] - depth[:, :-1] > jump
    band = rng.randint(1, 3)
    for s in range(band):
        valid[:, :w - 1 - s][far_left[:, s:]] = False
    valid[:, 1:][far_right & (rng.rand(h, w - 1) < 0.5)] = False
    vertical = np.abs(depth[:-1] - depth[1:]) > 0.04 * depth[:-1] + 0.05
    valid[:-1][vertical & (rng.rand(h - 1, w) < 0.4)] = False
    for _ in range(rng.randint(0, 4)):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(1, h / 12 + 1), rng.uniform(1, w / 12 + 1)
        ys, xs = np.ogrid[0:h, 0:w]
        valid[((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 < 1] = False
    if rng.rand() < 0.5:
        valid[glass] = False
    valid &= depth < 10.0
    return valid
