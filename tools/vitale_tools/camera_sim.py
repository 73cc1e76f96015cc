"""Camera emulator: a QR code shown on a phone screen, as an 8-bit grayscale sensor frame.

`render_frame(text, params)` draws the symbol (segno) on a phone screen lying
on a desk, projects it through a pinhole camera (tilt, rotation, distance),
and applies the impairments in `Params`: screen-door/moiré, glare spot,
vignetting, low contrast and gamma, defocus and motion blur, sensor noise,
JPEG-like 8x8 block quantisation, and an object covering part of the quiet
zone. Everything random comes from a seeded `numpy.random.Generator`, so a
corpus is reproducible from (seed, index).

`write_corpus(out_dir, count, seed, size)` writes PGM frames and a
`manifest.json` with the expected payloads, the parameters and a difficulty
bucket per frame.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import segno

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]

SIZES: dict[str, tuple[int, int]] = {"qvga": (320, 240), "vga": (640, 480)}
BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
BUCKETS = (
    "clean",
    "tilt",
    "blur",
    "noise",
    "glare",
    "moire",
    "lowcontrast",
    "jpeg",
    "occlusion",
    "small",
    "large",
    "combined",
)
SUPERSAMPLE = 2
MANIFEST_VERSION = 1


def base45_encode(data: bytes) -> str:
    """RFC 9285 base45 text of data."""
    out = []
    for i in range(0, len(data) - 1, 2):
        v = data[i] * 256 + data[i + 1]
        c, v = v % 45, v // 45
        d, e = v % 45, v // 45
        out += [BASE45[c], BASE45[d], BASE45[e]]
    if len(data) % 2:
        v = data[-1]
        out += [BASE45[v % 45], BASE45[v // 45]]
    return "".join(out)


def vqr_payload(rng: np.random.Generator, nbytes: int) -> str:
    """A VQR-like text: 'VQR1:' + base45 of nbytes random bytes (the real format is CBOR/COSE)."""
    return "VQR1:" + base45_encode(rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes())


@dataclass
class Params:
    """Everything that shapes one frame (angles in degrees, sizes relative to the frame)."""

    width: int = 640
    height: int = 480
    ecc: str = "M"
    code_frac: float = 0.6  # symbol height (without quiet zone) / frame height
    roll: float = 0.0  # in-plane rotation
    tilt_x: float = 0.0  # rotation of the phone about the camera's x axis
    tilt_y: float = 0.0
    shift_x: float = 0.0  # symbol centre offset, fraction of the free room
    shift_y: float = 0.0
    black: float = 0.08  # screen black and white levels (0..1)
    white: float = 0.92
    gamma: float = 1.0
    vignette: float = 0.0  # relative fall-off at the corners
    glare: float = 0.0  # peak added brightness (0..1.5)
    glare_radius: float = 0.1  # fraction of the frame height
    glare_x: float = 0.5  # glare centre in symbol coordinates (0..1)
    glare_y: float = 0.5
    moire: float = 0.0  # screen-door modulation depth
    moire_period: float = 0.12  # screen pixel pitch in modules
    moire_angle: float = 0.0
    defocus: float = 0.0  # Gaussian sigma, px
    motion: float = 0.0  # motion blur length, px
    motion_angle: float = 0.0
    noise: float = 2.0  # Gaussian sensor noise sigma, grey levels
    jpeg_quality: int = 0  # 0 = off
    occlusion: float = 0.0  # quiet-zone modules left on the occluded side (0 = none)
    occlusion_side: int = 0  # 0 top, 1 right, 2 bottom, 3 left
    occlusion_level: float = 0.45
    background: float = 0.35
    invert: bool = False  # light modules on a dark screen (dark mode apps)
    extra: dict[str, Any] = field(default_factory=dict)


def _matrix(text: str, ecc: str) -> tuple[U8, str]:
    q = segno.make_qr(text, error=ecc.lower(), boost_error=False)
    m = np.array(q.matrix, dtype=np.uint8)
    return m, str(q.designator)


def _camera_homography(p: Params, n: int) -> F64:
    """3x3 homography from symbol-plane coordinates (modules, origin top-left) to frame pixels."""
    w, h = p.width, p.height
    f = 0.5 * math.hypot(w, h) / math.tan(math.radians(66.5) / 2)  # 66.5 degree diagonal FOV
    ax, ay, az = (math.radians(a) for a in (p.tilt_x, p.tilt_y, p.roll))
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    r = rx @ ry @ rz
    centre = np.array([[1, 0, -n / 2], [0, 1, -n / 2], [0, 0, 1]], dtype=np.float64)

    def project(z: float, cx: float, cy: float) -> F64:
        k = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]])
        m = np.column_stack([r[:, 0], r[:, 1], np.array([0.0, 0.0, z])])
        out: F64 = k @ m @ centre
        return out

    def corners(hm: F64) -> F64:
        pts = np.array([[0, 0, 1], [n, 0, 1], [0, n, 1], [n, n, 1]], dtype=np.float64).T
        q = hm @ pts
        out: F64 = q[:2] / q[2]
        return out

    # distance so that the symbol's projected height matches code_frac
    z = f * n / (p.code_frac * h)
    for _ in range(4):
        c = corners(project(z, w / 2, h / 2))
        height = float(c[1].max() - c[1].min())
        z *= height / (p.code_frac * h)
    c = corners(project(z, w / 2, h / 2))
    room_x = max(0.0, (w - float(c[0].max() - c[0].min())) / 2 - 2)
    room_y = max(0.0, (h - float(c[1].max() - c[1].min())) / 2 - 2)
    mid_x = float(c[0].max() + c[0].min()) / 2 - w / 2
    mid_y = float(c[1].max() + c[1].min()) / 2 - h / 2
    cx = w / 2 - mid_x + p.shift_x * room_x
    cy = h / 2 - mid_y + p.shift_y * room_y
    return project(z, cx, cy)


def module_pixels(p: Params, n: int) -> float:
    """Mean side of a module in the frame (px): the projected symbol's mean edge length / n."""
    hm = _camera_homography(p, n)
    pts = np.array([[0, 0, 1], [n, 0, 1], [n, n, 1], [0, n, 1]], dtype=np.float64).T
    q = hm @ pts
    xy = q[:2] / q[2]
    edges = [float(np.hypot(*(xy[:, (i + 1) % 4] - xy[:, i]))) for i in range(4)]
    return sum(edges) / 4 / n


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> F32:
    small = rng.random((cells + 1, cells + 1)).astype(np.float32)
    ys = np.linspace(0, cells, h, dtype=np.float32)
    xs = np.linspace(0, cells, w, dtype=np.float32)
    y0 = np.minimum(ys.astype(int), cells - 1)
    x0 = np.minimum(xs.astype(int), cells - 1)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    a = small[y0][:, x0]
    b = small[y0][:, x0 + 1]
    c = small[y0 + 1][:, x0]
    d = small[y0 + 1][:, x0 + 1]
    out: F32 = (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy
    return out


def _scene(p: Params, m: U8, rng: np.random.Generator) -> F32:
    """Supersampled luminance (0..1+) of the scene as the lens sees it."""
    n = m.shape[0]
    ss = SUPERSAMPLE
    w, h = p.width * ss, p.height * ss
    hm = _camera_homography(p, n)
    sc = np.diag([ss, ss, 1.0]) @ hm
    inv = np.linalg.inv(sc)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    xs += 0.5
    ys += 0.5
    den = inv[2, 0] * xs + inv[2, 1] * ys + inv[2, 2]
    u = (inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]) / den
    v = (inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]) / den
    # desk background
    img = (p.background * (0.7 + 0.6 * _smooth_noise(rng, h, w, 6))).astype(np.float32)
    # phone: screen is the symbol + quiet zone + margins, portrait; bezel around it
    qz = 4.0
    sx0, sx1 = -qz - 2.0, n + qz + 2.0
    sy0, sy1 = -qz - 0.45 * n, n + qz + 0.9 * n
    bez = 2.5
    phone = (u >= sx0 - bez) & (u < sx1 + bez) & (v >= sy0 - bez) & (v < sy1 + bez)
    img[phone] = 0.04
    screen = (u >= sx0) & (u < sx1) & (v >= sy0) & (v < sy1)
    black, white = (p.white, p.black) if p.invert else (p.black, p.white)
    lum = np.full(img.shape, white, dtype=np.float32)
    iu = np.floor(u).astype(np.int64)
    iv = np.floor(v).astype(np.int64)
    inside = (iu >= 0) & (iu < n) & (iv >= 0) & (iv < n)
    dark = np.zeros(img.shape, dtype=bool)
    dark[inside] = m[iv[inside], iu[inside]] > 0
    lum[dark] = black
    if p.moire > 0:
        ca, sa = math.cos(math.radians(p.moire_angle)), math.sin(math.radians(p.moire_angle))
        pu = (u * ca + v * sa) / p.moire_period
        pv = (-u * sa + v * ca) / p.moire_period
        grid = 0.5 + 0.5 * np.cos(2 * np.pi * pu) * np.cos(2 * np.pi * pv)
        lum = lum * (1.0 - p.moire * grid.astype(np.float32))
    img[screen] = lum[screen]
    if p.occlusion > 0:
        # an object (finger, case) covering the quiet zone on one side up to `occlusion` modules from the symbol
        gap = p.occlusion
        if p.occlusion_side == 0:
            occ = (v < -gap) & (u > n * 0.1) & (u < n * 0.9)
        elif p.occlusion_side == 1:
            occ = (u > n + gap) & (v > n * 0.1) & (v < n * 0.9)
        elif p.occlusion_side == 2:
            occ = (v > n + gap) & (u > n * 0.1) & (u < n * 0.9)
        else:
            occ = (u < -gap) & (v > n * 0.1) & (v < n * 0.9)
        shade = p.occlusion_level * (0.8 + 0.4 * _smooth_noise(rng, h, w, 4))
        img[occ] = shade[occ]
    if p.glare > 0:
        gx, gy = p.glare_x * n, p.glare_y * n
        pt = sc @ np.array([gx, gy, 1.0])
        cx, cy = pt[0] / pt[2], pt[1] / pt[2]
        r = p.glare_radius * h
        blob = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * r * r)).astype(np.float32)
        img = img + p.glare * blob
    if p.vignette > 0:
        rr = ((xs - w / 2) ** 2 + (ys - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
        img = img * (1.0 - p.vignette * rr).astype(np.float32)
    return img


def _blur_kernel(p: Params) -> F64 | None:
    if p.defocus <= 0.05 and p.motion <= 0.5:
        return None
    r = int(math.ceil(3 * p.defocus + p.motion / 2 + 1))
    ys, xs = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    k = np.zeros_like(xs)
    if p.motion > 0.5:
        ca, sa = math.cos(math.radians(p.motion_angle)), math.sin(math.radians(p.motion_angle))
        steps = max(2, int(p.motion * 4))
        for t in np.linspace(-p.motion / 2, p.motion / 2, steps):
            px, py = t * ca, t * sa
            x0, y0 = int(math.floor(px)), int(math.floor(py))
            fx, fy = px - x0, py - y0
            for dx, dy, wt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
                k[r + y0 + dy, r + x0 + dx] += wt
    else:
        k[r, r] = 1.0
    if p.defocus > 0.05:
        g = np.exp(-(xs**2 + ys**2) / (2 * p.defocus**2))
        k = np.real(np.fft.ifft2(np.fft.fft2(k) * np.fft.fft2(np.fft.ifftshift(g / g.sum()))))
    out: F64 = k / k.sum()
    return out


def _convolve(img: F32, k: F64) -> F32:
    r = k.shape[0] // 2
    pad = np.pad(img, r, mode="edge")
    fh, fw = pad.shape
    kk = np.zeros((fh, fw))
    kk[: k.shape[0], : k.shape[1]] = k
    kk = np.roll(kk, (-r, -r), axis=(0, 1))
    out = np.real(np.fft.ifft2(np.fft.fft2(pad) * np.fft.fft2(kk)))
    res: F32 = out[r:-r, r:-r].astype(np.float32)
    return res


_JPEG_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.float64,
)


def _dct_matrix() -> F64:
    c = np.zeros((8, 8))
    for k in range(8):
        for i in range(8):
            c[k, i] = (math.sqrt(1 / 8) if k == 0 else math.sqrt(2 / 8)) * math.cos((2 * i + 1) * k * math.pi / 16)
    return c


def _jpeg_like(img: F64, quality: int) -> F64:
    """8x8 DCT quantisation with the standard luma table scaled to `quality` (1..100)."""
    q = max(1, min(100, quality))
    scale = 5000 / q if q < 50 else 200 - 2 * q
    table = np.clip(np.floor((_JPEG_LUMA * scale + 50) / 100), 1, 255)
    h, w = img.shape
    hp, wp = (h + 7) // 8 * 8, (w + 7) // 8 * 8
    pad = np.pad(img, ((0, hp - h), (0, wp - w)), mode="edge") - 128.0
    c = _dct_matrix()
    blocks = pad.reshape(hp // 8, 8, wp // 8, 8).transpose(0, 2, 1, 3)
    coef = c @ blocks @ c.T
    coef = np.round(coef / table) * table
    back = c.T @ coef @ c
    out: F64 = back.transpose(0, 2, 1, 3).reshape(hp, wp)[:h, :w] + 128.0
    return out


def render_matrix(m: U8, p: Params, rng: np.random.Generator) -> U8:
    """Frame (height x width, uint8) showing module matrix m under params p."""
    img = _scene(p, m, rng)
    ss = SUPERSAMPLE
    h, w = p.height, p.width
    img = img.reshape(h, ss, w, ss).mean(axis=(1, 3))
    k = _blur_kernel(p)
    if k is not None:
        img = _convolve(img, k)
    img = np.clip(img, 0.0, 1.0)
    if p.gamma != 1.0:
        img = img ** (1.0 / p.gamma)
    out = img.astype(np.float64) * 255.0
    if p.noise > 0:
        shot = np.sqrt(np.maximum(out, 0.0)) * 0.25
        out = out + rng.normal(0.0, 1.0, out.shape) * np.sqrt(p.noise**2 + shot**2)
    if p.jpeg_quality > 0:
        out = _jpeg_like(np.clip(out, 0, 255), p.jpeg_quality)
    res: U8 = np.clip(np.round(out), 0, 255).astype(np.uint8)
    return res


def render_frame(text: str, p: Params, rng: np.random.Generator) -> tuple[U8, str]:
    """Frame of the QR symbol of text (ECC p.ecc) and the symbol's designator, e.g. '15-M'."""
    m, designator = _matrix(text, p.ecc)
    return render_matrix(m, p, rng), designator


def _u(rng: np.random.Generator, a: float, b: float) -> float:
    return float(rng.uniform(a, b))


def draw_params(rng: np.random.Generator, bucket: str, size: str) -> Params:
    """Random parameters for a frame of the given difficulty bucket."""
    w, h = SIZES[size]
    p = Params(width=w, height=h)
    # every frame: any in-plane rotation, mild tilt, mild optics
    p.roll = _u(rng, -180, 180)
    p.tilt_x = _u(rng, -12, 12)
    p.tilt_y = _u(rng, -12, 12)
    p.code_frac = _u(rng, 0.45, 0.72)
    p.shift_x = _u(rng, -0.8, 0.8)
    p.shift_y = _u(rng, -0.8, 0.8)
    p.black = _u(rng, 0.04, 0.14)
    p.white = _u(rng, 0.8, 0.97)
    p.gamma = _u(rng, 0.85, 1.2)
    p.vignette = _u(rng, 0.0, 0.25)
    p.defocus = _u(rng, 0.2, 0.6)
    p.noise = _u(rng, 1.5, 4.0)
    p.background = _u(rng, 0.2, 0.6)
    p.moire_angle = _u(rng, 0, 90)
    p.moire_period = _u(rng, 0.07, 0.16)
    p.glare_x = _u(rng, 0.1, 0.9)
    p.glare_y = _u(rng, 0.1, 0.9)
    p.motion_angle = _u(rng, 0, 180)
    p.occlusion_side = int(rng.integers(0, 4))
    p.invert = bool(rng.random() < 0.05)
    if bucket == "clean":
        p.tilt_x = _u(rng, -5, 5)
        p.tilt_y = _u(rng, -5, 5)
        p.defocus = _u(rng, 0.0, 0.4)
    elif bucket == "tilt":
        p.tilt_x = _u(rng, -35, 35)
        p.tilt_y = _u(rng, -35, 35)
    elif bucket == "blur":
        p.defocus = _u(rng, 0.6, 1.3)
        p.motion = _u(rng, 0.0, 3.0)
    elif bucket == "noise":
        p.noise = _u(rng, 7, 14)
    elif bucket == "glare":
        p.glare = _u(rng, 0.5, 1.4)
        p.glare_radius = _u(rng, 0.06, 0.2)
    elif bucket == "moire":
        p.moire = _u(rng, 0.25, 0.5)
    elif bucket == "lowcontrast":
        mid = _u(rng, 0.35, 0.65)
        span = _u(rng, 0.18, 0.35)
        p.black, p.white = mid - span / 2, mid + span / 2
        p.gamma = _u(rng, 0.6, 1.8)
        p.noise = _u(rng, 2.0, 4.0)
    elif bucket == "jpeg":
        p.jpeg_quality = int(rng.integers(25, 60))
    elif bucket == "occlusion":
        p.occlusion = _u(rng, 0.5, 2.0)
        p.occlusion_level = _u(rng, 0.15, 0.7)
    elif bucket == "small":
        p.code_frac = _u(rng, 0.25, 0.45)
    elif bucket == "large":
        p.code_frac = _u(rng, 0.72, 0.9)
        p.shift_x = _u(rng, -0.3, 0.3)
        p.shift_y = _u(rng, -0.3, 0.3)
    elif bucket == "combined":
        p.tilt_x = _u(rng, -25, 25)
        p.tilt_y = _u(rng, -25, 25)
        p.defocus = _u(rng, 0.5, 0.9)
        p.motion = _u(rng, 0.0, 1.5)
        p.noise = _u(rng, 4, 8)
        p.glare = _u(rng, 0.3, 0.8)
        p.glare_radius = _u(rng, 0.08, 0.15)
        p.moire = _u(rng, 0.1, 0.25)
        p.black = _u(rng, 0.12, 0.25)
        p.white = _u(rng, 0.6, 0.8)
        p.jpeg_quality = int(rng.integers(50, 85))
    else:
        raise ValueError(f"unknown bucket {bucket!r}")
    return p


def default_payload_bytes(size: str, rng: np.random.Generator) -> int:
    """Typical VQR payload size: 330-440 B at VGA (docs/vqr-format.md: V14-V16 at ECC M); 40-100 B at QVGA."""
    if size == "vga":
        return int(rng.integers(330, 441))
    return int(rng.integers(40, 101))


def frame_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of frame `index` of the corpus with this seed."""
    return np.random.default_rng([seed, index])


def make_frame(seed: int, index: int, size: str, payload_bytes: int | None = None) -> dict[str, Any]:
    """One corpus entry (frame array under 'image', plus its manifest fields)."""
    rng = frame_rng(seed, index)
    bucket = BUCKETS[index % len(BUCKETS)]
    nbytes = payload_bytes if payload_bytes is not None else default_payload_bytes(size, rng)
    text = vqr_payload(rng, nbytes)
    p = draw_params(rng, bucket, size)
    img, designator = render_frame(text, p, rng)
    n = 4 * int(designator.split("-")[0]) + 17
    params = asdict(p)
    params.pop("extra")
    return {
        "image": img,
        "payload": text,
        "bucket": bucket,
        "symbol": designator,
        "px_per_module": round(module_pixels(p, n), 3),
        "params": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in params.items()},
    }


def write_pgm(path: Path, img: U8) -> None:
    """Binary PGM (P5) file of an 8-bit grayscale image."""
    h, w = img.shape
    path.write_bytes(b"P5\n%d %d\n255\n" % (w, h) + np.ascontiguousarray(img).tobytes())


def read_pgm(path: Path) -> U8:
    """Image of a binary PGM (P5, maxval 255) file."""
    data = path.read_bytes()
    parts: list[bytes] = []
    pos = 0
    while len(parts) < 4:
        while data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end : end + 1].isspace():
            end += 1
        parts.append(data[pos:end])
        pos = end
    if parts[0] != b"P5" or parts[3] != b"255":
        raise ValueError(f"{path}: not an 8-bit binary PGM")
    w, h = int(parts[1]), int(parts[2])
    pix = np.frombuffer(data, dtype=np.uint8, count=w * h, offset=pos + 1)
    out: U8 = pix.reshape(h, w)
    return out


def write_corpus(out_dir: Path, count: int, seed: int, size: str, payload_bytes: int | None = None) -> Path:
    """Write `count` frames and manifest.json into out_dir; returns the manifest path."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = []
    for i in range(count):
        e = make_frame(seed, i, size, payload_bytes)
        name = f"frame_{i:04d}.pgm"
        write_pgm(out_dir / name, e.pop("image"))
        h, w = SIZES[size][1], SIZES[size][0]
        frames.append({"file": name, "width": w, "height": h, **e})
    manifest = {
        "format": "vitale-qr-corpus",
        "version": MANIFEST_VERSION,
        "seed": seed,
        "size": size,
        "count": count,
        "buckets": list(BUCKETS),
        "frames": frames,
    }
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1))
    return path


def load_corpus(manifest: Path) -> list[dict[str, Any]]:
    """Manifest entries of a corpus, each with its frame under 'image'."""
    data = json.loads(manifest.read_text())
    if data.get("format") != "vitale-qr-corpus":
        raise ValueError(f"{manifest}: not a QR corpus manifest")
    out = []
    for e in data["frames"]:
        img = read_pgm(manifest.parent / e["file"])
        if img.shape != (e["height"], e["width"]):
            raise ValueError(f"{e['file']}: size does not match the manifest")
        out.append({**e, "image": img})
    return out
