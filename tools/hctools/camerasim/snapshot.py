"""Snapshots of the simulated camera: real JPEGs of a synthetic landscape that follow pan, tilt and zoom.

Mirrors ``plugins/module_utils/_camera/snapshot.py``. The scene is a 360 degree panorama (sky,
mountains whose outline depends on the azimuth, field rows, trees, the sun, a compass tape);
the view is ``65.7 / zoom`` degrees wide, centred on the pan angle; positive tilt looks down.
A caption states model, pan, tilt and zoom, so a picture says where the camera pointed.
"""

import io
import math

from .ptz import shortest

try:
    from PIL import Image, ImageDraw
except ImportError:  # pragma: no cover - Pillow is pinned in requirements-dev.txt
    Image = ImageDraw = None

WIDE_HFOV = 65.66   # horizontal field of view at zoom 1 (degrees)
COMPASS = {0: "N", 90: "E", 180: "S", 270: "W"}


def parse_size(text):
    try:
        w, h = (int(x) for x in str(text).lower().split("x"))
    except ValueError:
        raise SystemExit("camerasim: snapshot_size must look like 640x360, got %r" % text)
    if not (16 <= w <= 4096 and 16 <= h <= 4096):
        raise SystemExit("camerasim: snapshot_size %r outside 16x16..4096x4096" % text)
    return w, h


def ridge(azimuth):
    """Mountain height (0..1) at an azimuth in degrees: a fixed, recognisable skyline."""
    a = math.radians(azimuth)
    return 0.35 + 0.18 * math.sin(3 * a) + 0.10 * math.sin(7 * a + 1.3) + 0.05 * math.sin(17 * a + 0.4)


TREES = [(20, 1.0), (75, 1.6), (110, 0.8), (160, 1.2), (215, 2.0), (250, 0.9), (300, 1.4), (340, 1.1)]


def render_jpeg(pan, tilt, zoom, size=(640, 360), quality=80, caption=""):
    """Positive tilt looks down (the XNP-6400RW tilts -20 above to 90 below the horizon)."""
    if Image is None:
        raise RuntimeError("camerasim snapshots need Pillow (pip install -r requirements-dev.txt)")
    w, h = size
    zoom = max(zoom, 1.0)
    hfov = WIDE_HFOV / zoom
    px_per_deg = w / hfov
    img = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(img)

    def x_of(az):
        return shortest(pan, az) / hfov * w + w / 2.0

    horizon = h / 2.0 - tilt * px_per_deg        # image row of elevation 0
    for y in range(h):
        elevation = (horizon - y) / px_per_deg
        if elevation >= 0:
            t = min(1.0, elevation / 60.0)
            color = (int(150 - 90 * t), int(190 - 80 * t), int(235 - 40 * t))
        else:
            t = min(1.0, -elevation / 90.0)
            color = (int(95 - 40 * t), int(135 - 45 * t), int(60 - 25 * t))
        draw.line([(0, y), (w, y)], fill=color)
    # Mountains up to 8 degrees above the horizon.
    points = [(0, horizon)]
    for x in range(0, w + 1, 2):
        az = pan + (x / float(w) - 0.5) * hfov
        points.append((x, horizon - ridge(az) * 8.0 * px_per_deg))
    points.append((w, horizon))
    draw.polygon(points, fill=(70, 80, 95))
    # Field rows at fixed depression angles, and trees standing on the near field.
    for dep in (1, 2, 4, 8, 16, 32, 64):
        y = horizon + dep * px_per_deg
        if 0 <= y < h:
            draw.line([(0, y), (w, y)], fill=(70, 105, 45), width=max(1, int(px_per_deg * 0.15)))
    for az, scale in TREES:
        x = x_of(az)
        base = horizon + 1.5 * px_per_deg
        half = 1.2 * scale * px_per_deg
        if -half <= x <= w + half:
            draw.polygon([(x - half, base), (x + half, base), (x, base - 4.0 * scale * px_per_deg)], fill=(25, 70, 30))
    # The sun at azimuth 135, elevation 30.
    sx, sy = x_of(135.0), horizon - 30.0 * px_per_deg
    r = max(4.0, 2.0 * px_per_deg)
    draw.ellipse([sx - r, sy - r, sx + r, sy + r], fill=(255, 230, 120))
    # Compass tape along the top: a tick every 10 degrees, N/E/S/W and the degrees.
    draw.rectangle([0, 0, w, 18], fill=(0, 0, 0))
    first = int(math.floor((pan - hfov / 2) / 10.0)) * 10
    for deg in range(first, int(pan + hfov / 2) + 11, 10):
        x = (deg - pan) / hfov * w + w / 2.0
        if not -20 <= x <= w + 20:
            continue
        d = deg % 360
        draw.line([(x, 12), (x, 18)], fill=(255, 255, 255), width=2 if d in COMPASS else 1)
        draw.text((x + 2, 1), COMPASS.get(d, str(d)), fill=(255, 220, 0) if d in COMPASS else (255, 255, 255))
    text = "%s pan %.1f tilt %.1f zoom %.1f" % (caption, pan, tilt, zoom)
    draw.rectangle([0, h - 16, w, h], fill=(0, 0, 0))
    draw.text((4, h - 14), text.strip(), fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=max(1, min(95, quality)))
    return out.getvalue()


class SnapshotMixin:
    """Needs SimCore and PtzMixin."""

    def snapshot(self):
        pos = self.true_position()
        if not self.spec["ptz"]:
            pos = {"pan": {"top": 0.0, "bottom": 180.0, "left": 270.0, "right": 90.0}.get(
                self.device_location, 0.0), "tilt": -10.0, "zoom": 1.0}
        return render_jpeg(pos["pan"], pos["tilt"], pos["zoom"], parse_size(self.config["snapshot_size"]),
                           self.config["snapshot_quality"], caption=self.model)
