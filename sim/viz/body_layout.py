"""The body map's geometry and encoding, drawn by :mod:`sim.viz.bodymap` (matplotlib: figures
and animations) and :mod:`sim.viz.body_svg` (the classroom app), so the two drawings show the
same body and cannot drift apart.

**Units and scale.** Layout units are centimetres of a front view of an adult 175 cm tall:
``x`` from the body's midline, negative on the viewer's LEFT (the patient's right), ``y`` up
from the soles (the top of the head at 175). Organs are polygons (tuples of (x, y) points)
made from a few control points by a closed Catmull-Rom spline (:func:`smooth_closed`), as
tubes along a centre line (:func:`tube`: arms, legs, spine, femurs, colon, oesophagus) or as
ellipses; every organ key may hold several polygons (two lungs, two kidneys, nodes).

**Sources of sizes and positions** (rounded; a teaching picture, not an atlas):
surface landmarks and vertebral levels from Gray's Anatomy (41st ed., 2016), ch. "Surface
anatomy", for a 175 cm adult: chin 152 cm, sternal notch (T2) 142, xiphoid (T9) 121, navel
(L3-L4) 104, iliac crests (L4) 104, pubic symphysis 83, knees 50; shoulder breadth 40 cm and
hip breadth 34 cm (adult anthropometry, e.g. NASA-STD-3000 Vol. I ch. 3). Organs:

* brain about 16 cm long, 14 cm wide: seen from the front an ellipse 14 x 11 cm in the skull;
* lungs about 25-28 cm tall from the apices (3 cm above the clavicles) to the domes of the
  diaphragm (right dome higher, at the 5th rib / T9-T10); heart 12 x 9 cm between them, two
  thirds left of the midline, apex at the 5th left intercostal space;
* oesophagus behind the trachea and the heart from C6 to T11, joining the stomach (part of
  this map's ``stomach`` organ, as in the simulator's organ list);
* liver about 21 cm wide under the right ribs, T9-L1, its left lobe crossing the midline;
  stomach J-shaped in the left upper abdomen; spleen 12 x 7 cm behind it at ribs 9-11;
  pancreas about 15 cm across L1-L2, head in the duodenal loop, tail at the spleen;
* kidneys about 11 x 6 cm at T12-L3 behind the other organs (the right one 1.5 cm lower), the
  adrenals (4-5 cm) on their upper poles;
* small intestine in the middle of the belly below the transverse colon; large intestine as
  a frame: caecum (right lower), ascending, transverse, descending, sigmoid colon, rectum;
  peritoneum the lining of the abdominal cavity (diaphragm to pelvis); pleura around the
  lungs; ovaries either side of the uterus in the pelvis;
* bone: the spine (C1 to the sacrum), the clavicles, the hip bones and the femurs; muscle:
  the front of the thighs; fat: a patch on each hip; skin: the body's outline.

Layout units are drawn directly by matplotlib (equal aspect) and scaled to SVG user units
(y down) by :mod:`sim.viz.body_svg`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from matplotlib import colormaps
from matplotlib.colors import LogNorm

from ..biology.anatomy import PRIMARY_SITES
from ..config.hypotheses import HYPOTHESES
from .style import PRIMARY_COLOR

Point = tuple[float, float]
Outline = tuple[Point, ...]

#: Height of the body (cm): the top of the head; the soles are at 0.
BODY_HEIGHT_CM = 175.0
BODY_TOP = BODY_HEIGHT_CM


# ------------------------------------------------------------------ shape makers

def _r(p: Point) -> Point:
    return round(p[0], 2), round(p[1], 2)


def _catmull_rom(p0: Point, p1: Point, p2: Point, p3: Point, t: float) -> Point:
    t2, t3 = t * t, t * t * t
    return tuple(0.5 * (2 * b + (-a + c) * t + (2 * a - 5 * b + 4 * c - d) * t2
                        + (-a + 3 * b - 3 * c + d) * t3)
                 for a, b, c, d in zip(p0, p1, p2, p3, strict=True))  # type: ignore[return-value]


def smooth_closed(control: Sequence[Point], per_segment: int = 6) -> Outline:
    """A smooth closed outline through ``control`` points (uniform Catmull-Rom spline,
    ``per_segment`` points between two control points)."""
    n = len(control)
    out: list[Point] = []
    for i in range(n):
        p0, p1, p2, p3 = (control[(i + k) % n] for k in (-1, 0, 1, 2))
        out.extend(_r(_catmull_rom(p0, p1, p2, p3, j / per_segment))
                   for j in range(per_segment))
    return tuple(out)


def _smooth_open(control: Sequence[Point], per_segment: int) -> list[Point]:
    pts = [control[0], *control, control[-1]]
    out: list[Point] = []
    for i in range(1, len(pts) - 2):
        out.extend(_catmull_rom(pts[i - 1], pts[i], pts[i + 1], pts[i + 2], j / per_segment)
                   for j in range(per_segment))
    out.append(control[-1])
    return out


def tube(centre: Sequence[Point], half_widths: Sequence[float], per_segment: int = 5,
         cap_points: int = 5) -> Outline:
    """A smooth tube along the ``centre`` line (cm), ``half_widths`` at its control points
    (interpolated between them), with rounded ends."""
    line = _smooth_open(centre, per_segment)
    widths = []
    for i in range(len(centre) - 1):
        widths += [half_widths[i] + (half_widths[i + 1] - half_widths[i]) * j / per_segment
                   for j in range(per_segment)]
    widths.append(half_widths[-1])
    left, right = [], []
    for i, (x, y) in enumerate(line):
        a, b = line[max(i - 1, 0)], line[min(i + 1, len(line) - 1)]
        dx, dy = b[0] - a[0], b[1] - a[1]
        norm = math.hypot(dx, dy) or 1.0
        nx, ny = -dy / norm, dx / norm
        w = widths[i]
        left.append((x + nx * w, y + ny * w))
        right.append((x - nx * w, y - ny * w))

    def cap(centre_pt: Point, start: Point, w: float, direction: float) -> list[Point]:
        a0 = math.atan2(start[1] - centre_pt[1], start[0] - centre_pt[0])
        return [(centre_pt[0] + w * math.cos(a0 + direction * math.pi * k / cap_points),
                 centre_pt[1] + w * math.sin(a0 + direction * math.pi * k / cap_points))
                for k in range(1, cap_points)]

    end = cap(line[-1], left[-1], widths[-1], -1.0)
    start = cap(line[0], right[0], widths[0], -1.0)
    return tuple(_r(p) for p in left + end + right[::-1] + start)


def ellipse(cx: float, cy: float, width: float, height: float, angle_deg: float = 0.0,
            n: int = 20) -> Outline:
    """An ellipse of ``width`` x ``height`` (cm) centred on (cx, cy), turned by
    ``angle_deg`` anticlockwise."""
    a = math.radians(angle_deg)
    ca, sa = math.cos(a), math.sin(a)
    out = []
    for k in range(n):
        t = 2 * math.pi * k / n
        u, v = width / 2 * math.cos(t), height / 2 * math.sin(t)
        out.append(_r((cx + u * ca - v * sa, cy + u * sa + v * ca)))
    return tuple(out)


def mirrored(outline: Outline) -> Outline:
    """The outline reflected in the midline (the other side of the body)."""
    return tuple((-x if x else 0.0, y) for x, y in reversed(outline))


def scaled(outline: Outline, factor: float) -> Outline:
    """The outline grown by ``factor`` about the centre of its points."""
    cx = sum(p[0] for p in outline) / len(outline)
    cy = sum(p[1] for p in outline) / len(outline)
    return tuple(_r((cx + (x - cx) * factor, cy + (y - cy) * factor)) for x, y in outline)


def _mirror_half(half: Sequence[Point]) -> list[Point]:
    """Control points of a shape symmetric about the midline from those of its right half
    (x >= 0, top to bottom, first and last on the midline)."""
    return list(half) + [(-x, y) for x, y in reversed(half[1:-1])]


# ------------------------------------------------------------------ the silhouette

_HEAD = tuple(_r((7.7 * math.cos(t) * (1 - 0.24 * max(0.0, -math.sin(t)) ** 1.5),
                  163.5 + 11.5 * math.sin(t)))
              for t in (2 * math.pi * k / 32 for k in range(32)))
_NECK = smooth_closed([(0, 157), (5.0, 156), (5.4, 148), (7.5, 143.5), (0, 142),
                       (-7.5, 143.5), (-5.4, 148), (-5.0, 156)], 5)
_TRUNK = smooth_closed(_mirror_half([
    (0, 147.5), (7.0, 147.0), (13.0, 145.2), (17.0, 142.0), (18.3, 137.0), (16.2, 130.5),
    (15.4, 121.0), (14.2, 112.0), (15.3, 103.0), (16.9, 94.0), (16.6, 86.0), (12.0, 81.5),
    (0, 79.5)]), 5)
_ARM = tube([(15.6, 139.5), (18.2, 124.0), (19.6, 110.0), (20.6, 96.0), (21.3, 84.0),
             (21.7, 76.0), (21.6, 69.5)], [4.6, 4.1, 3.6, 3.3, 2.6, 3.4, 2.3], 4)
_LEG = tube([(8.6, 88.0), (8.6, 70.0), (7.6, 50.0), (7.4, 32.0), (6.8, 9.0)],
            [8.1, 7.0, 4.9, 4.6, 3.0], 4)
_FOOT = smooth_closed([(5.0, 8.5), (8.6, 8.0), (11.6, 5.0), (12.6, 1.6), (10.0, 0.0),
                       (6.0, 0.2), (3.9, 2.5), (4.2, 6.5)], 4)

#: The body's outline, drawn as one shape: head, neck, trunk, arms, legs, feet (cm).
BODY_OUTLINE: tuple[Outline, ...] = (_HEAD, _NECK, _TRUNK, _ARM, mirrored(_ARM), _LEG,
                                     mirrored(_LEG), _FOOT, mirrored(_FOOT))
SKIN_FILL, SKIN_EDGE = "#f3eee8", "#999999"


# ------------------------------------------------------------------ the organs

_R_LUNG = smooth_closed([(-5.6, 146.0), (-9.5, 143.5), (-12.8, 137.0), (-14.2, 128.0),
                         (-14.4, 120.0), (-13.6, 116.8), (-10.5, 119.0), (-6.5, 121.2),
                         (-4.2, 123.0), (-3.6, 130.0), (-3.3, 138.0), (-3.9, 144.0)], 5)
_L_LUNG = smooth_closed([(5.4, 146.0), (3.8, 143.5), (3.3, 137.0), (4.2, 132.0),
                         (7.6, 127.5), (8.8, 122.5), (10.5, 118.4), (13.4, 115.8),
                         (14.3, 120.0), (14.2, 128.0), (12.8, 137.0), (9.3, 143.5)], 5)
_HEART = smooth_closed([(-1.0, 136.0), (-3.6, 133.5), (-4.4, 128.0), (-3.2, 122.8),
                        (1.5, 120.6), (6.0, 120.6), (8.8, 122.2), (7.2, 126.5), (4.5, 131.5),
                        (1.5, 135.2)], 5)
_LIVER = smooth_closed([(-14.3, 115.5), (-13.0, 119.2), (-8.0, 121.0), (-2.0, 120.0),
                        (3.0, 118.9), (6.4, 117.8), (5.2, 115.6), (1.0, 114.4),
                        (-3.5, 112.6), (-8.5, 110.2), (-12.8, 108.6), (-14.8, 110.6)], 5)
_STOMACH = smooth_closed([(3.4, 119.0), (6.2, 120.2), (9.6, 118.6), (10.6, 114.5),
                          (9.6, 109.8), (6.6, 106.6), (2.6, 106.6), (-1.2, 108.2),
                          (-1.4, 110.0), (2.2, 110.4), (5.0, 112.0), (5.5, 115.5)], 5)
_OESOPHAGUS = tube([(0.0, 149.0), (0.2, 140.0), (1.0, 128.0), (2.6, 121.0), (4.2, 117.8)],
                   [0.9, 0.9, 0.9, 1.0, 1.1], 4)
_SPLEEN = ellipse(12.3, 112.8, 4.0, 9.2, -28.0)
_PANCREAS = tube([(-3.2, 105.2), (-1.4, 108.0), (2.5, 108.9), (7.0, 110.0), (10.4, 111.4)],
                 [1.9, 1.5, 1.3, 1.1, 0.9], 4)
_KIDNEY_R = smooth_closed([(-6.0, 110.3), (-8.9, 109.0), (-10.0, 104.5), (-8.8, 99.6),
                           (-6.2, 98.8), (-4.4, 101.0), (-4.9, 104.4), (-4.3, 107.8)], 4)
_KIDNEY_L = tuple((-x, y + 1.5) for x, y in reversed(_KIDNEY_R))
_ADRENAL_R = smooth_closed([(-6.6, 113.6), (-8.6, 110.3), (-6.0, 109.8), (-4.2, 110.9)], 4)
_ADRENAL_L = tuple((-x, y + 1.5) for x, y in reversed(_ADRENAL_R))
_SMALL_INTESTINE = smooth_closed([(-6.8, 101.8), (-2.0, 102.4), (3.0, 102.2), (7.8, 101.0),
                                  (8.6, 95.5), (6.4, 90.4), (1.0, 89.0), (-4.4, 89.6),
                                  (-8.0, 93.0), (-8.4, 98.0)], 4)
_LARGE_INTESTINE = tube([(-10.9, 90.6), (-11.3, 99.0), (-10.6, 107.2), (-5.0, 104.6),
                         (1.0, 103.4), (7.0, 105.0), (11.4, 109.0), (12.0, 100.0),
                         (11.6, 92.5), (8.2, 88.0), (3.4, 89.2), (0.6, 86.4), (0.3, 82.4)],
                        [2.7, 2.5, 2.4, 2.3, 2.2, 2.3, 2.3, 2.1, 2.0, 1.8, 1.7, 1.8, 1.8], 4)
_PERITONEUM = smooth_closed([(-13.6, 117.0), (-8.0, 121.3), (0.0, 119.6), (8.0, 120.8),
                             (13.6, 117.6), (14.6, 108.0), (15.4, 99.0), (14.2, 90.0),
                             (8.0, 84.2), (0.0, 82.0), (-8.0, 84.2), (-14.2, 90.0),
                             (-15.4, 99.0), (-14.6, 108.0)], 4)
_SPINE = tube([(0.0, 157.0), (0.0, 143.0), (0.0, 120.0), (0.0, 98.0)], [1.2, 1.5, 1.9, 2.5],
              4)
_SACRUM = smooth_closed([(-3.6, 98.0), (3.6, 98.0), (2.2, 89.0), (0.0, 85.6), (-2.2, 89.0)],
                        3)
_HIP_BONE = smooth_closed([(3.2, 96.5), (6.5, 103.8), (11.0, 105.2), (14.3, 102.0),
                           (13.8, 96.5), (11.4, 91.2), (10.6, 86.6), (6.5, 83.4),
                           (1.2, 82.6), (1.2, 85.0), (5.0, 87.6), (6.2, 91.0)], 4)
_FEMUR = tube([(9.2, 89.2), (11.8, 85.6), (11.0, 75.0), (9.4, 62.0), (8.0, 50.5)],
              [1.7, 1.6, 1.3, 1.3, 2.2], 4)
_CLAVICLE = tube([(1.2, 144.3), (7.5, 145.0), (14.6, 146.0)], [0.8, 0.7, 0.8], 3)
_THIGH_MUSCLE = smooth_closed([(10.6, 85.0), (14.6, 80.0), (15.0, 68.0), (12.4, 56.5),
                               (9.6, 54.0), (6.0, 58.0), (3.2, 68.0), (4.2, 79.0)], 4)
_HIP_FAT = smooth_closed([(14.4, 104.0), (16.0, 99.0), (16.8, 93.0), (16.2, 88.0),
                          (14.6, 88.5), (14.4, 95.0)], 4)
_THYROID = smooth_closed([(-2.8, 148.8), (-1.2, 147.0), (1.2, 147.0), (2.8, 148.8),
                          (3.0, 145.6), (1.4, 144.6), (0.0, 145.6), (-1.4, 144.6),
                          (-3.0, 145.6)], 4)
_BRAIN = ellipse(0.0, 166.2, 13.4, 11.2, 0.0, 28)
_OVARY = ellipse(5.8, 90.8, 3.2, 2.0, 20.0, 14)
_NODE_R = 0.95

#: Distant lymph nodes drawn: both supraclavicular fossae (Virchow's node on the patient's
#: left) and the para-aortic chain (cm).
DISTANT_NODES: tuple[Point, ...] = ((7.8, 143.4), (-7.8, 143.4), (-2.9, 101.0),
                                    (-2.9, 97.4))

#: Each organ's polygons (cm), except the regional nodes, which follow the primary
#: (:func:`shapes_for`).
ORGAN_SHAPES: dict[str, tuple[Outline, ...]] = {
    "brain": (_BRAIN,),
    "thyroid": (_THYROID,),
    "lung": (_R_LUNG, _L_LUNG),
    "heart": (_HEART,),
    "pleura": (scaled(_R_LUNG, 1.09), scaled(_L_LUNG, 1.09)),
    "distant_lymph_nodes": tuple(ellipse(x, y, 2 * _NODE_R, 2 * _NODE_R, 0, 10)
                                 for x, y in DISTANT_NODES),
    "liver": (_LIVER,),
    "stomach": (_OESOPHAGUS, _STOMACH),
    "spleen": (_SPLEEN,),
    "adrenal": (_ADRENAL_R, _ADRENAL_L),
    "pancreas": (_PANCREAS,),
    "kidney": (_KIDNEY_R, _KIDNEY_L),
    "small_intestine": (_SMALL_INTESTINE,),
    "large_intestine": (_LARGE_INTESTINE,),
    "peritoneum": (_PERITONEUM,),
    "ovary": (mirrored(_OVARY), _OVARY),
    "bone": (_SPINE, _SACRUM, _CLAVICLE, mirrored(_CLAVICLE), _HIP_BONE, mirrored(_HIP_BONE),
             _FEMUR, mirrored(_FEMUR)),
    "muscle": (_THIGH_MUSCLE, mirrored(_THIGH_MUSCLE)),
    "adipose": (_HIP_FAT, mirrored(_HIP_FAT)),
    "skin": BODY_OUTLINE,
}

#: Each organ's name on the map (and in the app's tables), in plain words.
PLAIN_ORGAN_NAMES: dict[str, str] = {
    "brain": "Brain", "thyroid": "Thyroid", "lung": "Lungs", "heart": "Heart",
    "pleura": "Lining of the lungs", "regional_lymph_nodes": "Nearby lymph nodes",
    "distant_lymph_nodes": "Distant lymph nodes", "liver": "Liver",
    "stomach": "Stomach, oesophagus", "spleen": "Spleen", "adrenal": "Adrenal glands",
    "pancreas": "Pancreas", "kidney": "Kidneys", "small_intestine": "Small intestine",
    "large_intestine": "Large intestine", "peritoneum": "Lining of the belly",
    "ovary": "Ovaries", "bone": "Bones", "muscle": "Muscle", "skin": "Skin",
    "adipose": "Fat",
}

#: Where each primary site sits (cm). The oesophagus is in the chest behind the heart.
PRIMARY_POSITION: dict[str, Point] = {
    "breast": (-9.6, 126.5), "colorectal": (9.6, 90.6), "colon": (9.6, 90.6),
    "rectum": (0.5, 84.6), "stomach": (6.2, 110.2), "esophagus": (0.4, 136.5),
    "pancreas": (-2.4, 106.8), "lung": (-8.6, 137.0), "prostate": (0.0, 82.0),
    "kidney": (-7.2, 104.5), "ovary": (5.8, 90.8), "uterus": (0.0, 91.0),
    "cervix": (0.0, 88.4), "bladder": (0.0, 86.0), "melanoma": (12.6, 140.5),
    "bone_sarcoma": (-8.0, 54.0), "thyroid": (0.0, 146.6), "liver": (-8.4, 115.4),
}
#: Where each primary's regional lymph nodes sit (cm): axillary for the breast and a
#: melanoma of the upper trunk, mesenteric for the colon, hilar for the lung, pelvic for the
#: pelvic organs, inguinal for a sarcoma of the knee, cervical for the thyroid...
REGIONAL_NODES: dict[str, Point] = {
    "breast": (-14.6, 133.0), "colorectal": (5.8, 95.6), "colon": (5.8, 95.6),
    "rectum": (-3.8, 87.6), "stomach": (1.8, 114.6), "esophagus": (-2.8, 140.5),
    "pancreas": (0.8, 111.4), "lung": (-4.4, 131.5), "prostate": (-4.4, 87.0),
    "kidney": (-2.6, 107.0), "ovary": (2.4, 94.0), "uterus": (-4.4, 92.0),
    "cervix": (-4.4, 89.6), "bladder": (-4.4, 88.2), "melanoma": (14.2, 131.0),
    "bone_sarcoma": (-8.0, 83.6), "thyroid": (-3.6, 151.0), "liver": (-1.4, 112.6),
}
_DEFAULT_PRIMARY: Point = (0.0, 104.0)

#: Where a leader line or a journey meets each organ (cm): a visible point of it, on the
#: viewer's right where there is a choice (the names stand right of the body).
ORGAN_ANCHOR: dict[str, Point] = {
    "brain": (3.0, 167.5), "thyroid": (2.0, 146.2), "lung": (10.5, 134.0),
    "heart": (3.4, 125.0), "pleura": (14.9, 125.0), "distant_lymph_nodes": (7.8, 143.4),
    "liver": (-5.0, 116.5), "stomach": (8.0, 114.0), "spleen": (12.9, 110.0),
    "adrenal": (6.0, 112.8), "pancreas": (2.5, 108.9), "kidney": (7.3, 103.8),
    "small_intestine": (2.0, 95.5), "large_intestine": (11.8, 100.0),
    "peritoneum": (14.7, 92.0), "ovary": (-5.8, 90.8), "bone": (9.6, 64.0),
    "muscle": (13.4, 72.0), "adipose": (15.9, 97.0), "skin": (18.5, 132.0),
}
#: Where the blood routes arrive (cm): the spine for Batson's plexus, the lumbar spine.
SPINE_POINT: Point = (0.0, 100.0)

#: The order organs are drawn in, back to front: ``"organ"`` for all of its polygons, or
#: ``"organ:first:last"`` for some of them (the spine and sacrum are drawn over the small
#: intestine, so that the Batson arrow meets a spine that is seen; the other bones behind).
DRAWING_ORDER: tuple[str, ...] = (
    "muscle", "peritoneum", "pleura", "bone:2:8", "adipose", "lung", "thyroid", "brain",
    "small_intestine", "bone:0:2", "large_intestine", "stomach", "heart", "liver", "kidney",
    "adrenal", "spleen", "pancreas", "ovary", "distant_lymph_nodes", "regional_lymph_nodes")
#: Organs that surround others: drawn as a dashed outline while they hold nothing.
BACKGROUND_ORGANS = ("pleura", "peritoneum")


def primary_position(site: str) -> Point:
    """Where the primary tumour of ``site`` sits (cm)."""
    return PRIMARY_POSITION.get(site, _DEFAULT_PRIMARY)


@lru_cache(maxsize=64)
def regional_nodes(site: str) -> tuple[Outline, ...]:
    """The regional lymph nodes of a primary site: three small nodes beside its tumour."""
    x, y = REGIONAL_NODES.get(site, (primary_position(site)[0] + 3.0,
                                     primary_position(site)[1] + 3.0))
    return tuple(ellipse(x + dx, y + dy, 2 * _NODE_R, 2 * _NODE_R, 0, 10)
                 for dx, dy in ((0.0, 0.0), (-1.7, -1.5), (1.7, -1.5)))


#: Organs a patient of one sex does not have (the simulator never sends cells there).
ABSENT_ORGANS: dict[str, frozenset[str]] = {"male": frozenset({"ovary"}),
                                            "female": frozenset()}


def shapes_for(site: str, sex: str | None = None) -> dict[str, tuple[Outline, ...]]:
    """Every organ's polygons (cm) for a primary site, the regional nodes beside it; the
    skin is the body's outline. A man has no ovaries (``sex``)."""
    shapes = dict(ORGAN_SHAPES, regional_lymph_nodes=regional_nodes(site))
    for organ in ABSENT_ORGANS.get(sex or "", frozenset()):
        shapes.pop(organ, None)
    return shapes


def drawing_list(site: str, sex: str | None = None) -> list[tuple[str, Outline]]:
    """(organ, polygon) in the order both maps draw them, back to front
    (:data:`DRAWING_ORDER`); the skin, the body's outline, is drawn first and apart."""
    shapes = shapes_for(site, sex)
    out = []
    for entry in DRAWING_ORDER:
        organ, *part = entry.split(":")
        if organ not in shapes:
            continue
        polygons = shapes[organ]
        if part:
            polygons = polygons[int(part[0]):int(part[1])]
        out += [(organ, p) for p in polygons]
    return out


def anchor(place: str, site: str) -> Point:
    """The point (cm) that stands for ``place`` on the map: an organ key, ``"primary"`` (the
    tumour) or ``"heart"``; leader lines and a followed cell's journey meet it there."""
    if place == "primary":
        return primary_position(site)
    if place == "regional_lymph_nodes":
        return REGIONAL_NODES.get(site, regional_nodes(site)[0][0])
    return ORGAN_ANCHOR[place]


def bounds(outline: Sequence[Point]) -> tuple[float, float, float, float]:
    """(x min, y min, x max, y max) of an outline."""
    xs, ys = [p[0] for p in outline], [p[1] for p in outline]
    return min(xs), min(ys), max(xs), max(ys)


#: The extent of the drawing (cm): (x min, y min, x max, y max) of the body's outline.
BODY_BOUNDS = (min(bounds(o)[0] for o in BODY_OUTLINE), min(bounds(o)[1] for o in BODY_OUTLINE),
               max(bounds(o)[2] for o in BODY_OUTLINE), max(bounds(o)[3] for o in BODY_OUTLINE))


def _box(outlines: Sequence[Outline]) -> tuple[float, float, float, float]:
    b = [bounds(o) for o in outlines]
    x0, y0 = min(v[0] for v in b), min(v[1] for v in b)
    x1, y1 = max(v[2] for v in b), max(v[3] for v in b)
    return (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0


#: Each organ's bounding box (centre x, centre y, width, height; cm), the regional nodes
#: those of a breast primary (:func:`layout_for` gives them for any site).
LAYOUT: dict[str, tuple[float, float, float, float]] = {
    o: _box(v) for o, v in shapes_for("breast").items()}


def layout_for(site: str) -> tuple[dict[str, tuple[float, float, float, float]], Point]:
    """Each organ's bounding box (cm) for a primary site, and the primary's position."""
    layout = dict(LAYOUT)
    layout["regional_lymph_nodes"] = _box(regional_nodes(site))
    return layout, primary_position(site)


# ------------------------------------------------------------------ encoding

#: Organs are filled by the cells in their metastases on this log scale (cells).
BURDEN_CMAP = colormaps["Reds"]
BURDEN_RANGE = (1e3, 1e11)
BURDEN_NORM = LogNorm(vmin=BURDEN_RANGE[0], vmax=BURDEN_RANGE[1])


def organ_fill(organ: str, cells: float) -> tuple[float, float, float, float] | str | None:
    """An organ's fill: ``None`` (outline only) for an empty background organ, ``"white"``
    for an empty organ, else the colour of its burden on :data:`BURDEN_NORM` (RGBA)."""
    if cells <= 0:
        return None if organ in BACKGROUND_ORGANS else "white"
    return BURDEN_CMAP(BURDEN_NORM(max(cells, BURDEN_RANGE[0])))


#: Beside each organ's name two bars count its cells on a log scale: 1 cell (no bar) to
#: 10^BAR_DECADES cells (a full bar), so a bar keeps growing with the count.
BAR_DECADES = 12
ARRIVED_COLOR, BURDEN_BAR_COLOR, TRACK_COLOR = "#8497b0", "#c62828", "#ececec"
#: The colour of a followed cell's path.
JOURNEY_COLOR = "#111111"


def bar_fraction(cells: float) -> float:
    """The share of a full bar that ``cells`` fill: log10 of the count over
    :data:`BAR_DECADES`, 0 at 1 cell or fewer, 1 at 10^12 cells and beyond."""
    if not cells > 1:
        return 0.0
    return min(math.log10(cells), BAR_DECADES) / BAR_DECADES


def _crosses(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """Whether segments p1-p2 and q1-q2 cross (touching ends do not count)."""
    def side(a: Point, b: Point, c: Point) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    d1, d2 = side(q1, q2, p1), side(q1, q2, p2)
    d3, d4 = side(p1, p2, q1), side(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


def _passes_near(p: Point, a: Point, b: Point, clearance: float) -> bool:
    """Whether segment a-b passes within ``clearance`` of point p (p not an end of it)."""
    if p in (a, b):
        return False
    dx, dy = b[0] - a[0], b[1] - a[1]
    t = max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy or 1.0)))
    return math.hypot(a[0] + t * dx - p[0], a[1] + t * dy - p[1]) < clearance


def leader_crossings(anchors: Sequence[Point], rows: Sequence[float], end_x: float) -> int:
    """How many pairs of leader lines cross: line i runs from ``anchors[i]`` to
    (``end_x``, ``rows[i]``)."""
    lines = [(a, (end_x, r)) for a, r in zip(anchors, rows, strict=True)]
    return sum(_crosses(*lines[i], *lines[j])
               for i in range(len(lines)) for j in range(i + 1, len(lines)))


def leader_near_misses(anchors: Sequence[Point], rows: Sequence[float], end_x: float,
                       clearance: float) -> int:
    """How many (line, other organ's anchor) pairs touch: the line passes within
    ``clearance`` of the other anchor, so that two lines seem to leave one organ."""
    lines = [(a, (end_x, r)) for a, r in zip(anchors, rows, strict=True)]
    return sum(_passes_near(p, *line, clearance) for line in lines for p in anchors)


def fewest_crossings(anchors: Sequence[Point], rows: Sequence[float],
                     end_x: float, max_shift: int = 3, clearance: float = 0.0) -> list[int]:
    """Which row each anchor's name goes to (row indices), so that few leader lines cross
    or touch another organ's anchor (within ``clearance``): starting from the given order
    (anchor i in row i), two names swap rows while that lowers crossings plus touches and
    keeps each within ``max_shift`` rows of its place in that order, so a name stays near
    its organ (a local search; 21 names take a few tens of ms). Never more crossings plus
    touches than the order given."""
    n = len(anchors)
    slot = list(range(n))  # anchor i -> row slot[i]

    def line(i: int) -> tuple[Point, Point]:
        return anchors[i], (end_x, rows[slot[i]])

    def conflicts_of(i: int, j: int) -> int:
        """The conflicts a swap of i and j can change: lines crossing i or j (i with j
        once), and anchors that line i or j touches."""
        li, lj = line(i), line(j)
        crossings = (sum(_crosses(*li, *line(k)) + _crosses(*lj, *line(k))
                         for k in range(n) if k not in (i, j)) + _crosses(*li, *lj))
        if clearance <= 0:
            return crossings
        return crossings + sum(_passes_near(p, *li, clearance) + _passes_near(p, *lj, clearance)
                               for p in anchors)

    improved = True
    while improved:
        improved = False
        for i in range(n):
            for j in range(i + 1, n):
                if abs(slot[j] - i) > max_shift or abs(slot[i] - j) > max_shift:
                    continue  # a name stays within max_shift rows of its place in the order
                before = conflicts_of(i, j)
                if before == 0:
                    continue
                slot[i], slot[j] = slot[j], slot[i]
                if conflicts_of(i, j) < before:
                    improved = True
                else:
                    slot[i], slot[j] = slot[j], slot[i]
    return slot


def journey_badges(points: Sequence[Point], body_bottom_cm: float = 2.0) -> list[Point]:
    """Where each stop of a followed cell's path gets its numbered circle (cm): beside its
    point, at 5, 10 or 15 cm, clear of the circles placed before (7.8 cm apart) and of every
    stop (4.7 cm, where the end's cross or dot stands), inside the body's part of the
    picture (4 cm in from its sides and top, above ``body_bottom_cm``)."""
    placed: list[Point] = []
    left, right = BODY_BOUNDS[0] + 4.0, BODY_BOUNDS[2] - 4.0
    top, bottom = BODY_HEIGHT_CM - 4.0, body_bottom_cm
    options: list[Point] = []
    for x, y in points:
        for dist in (5.1, 10.2, 15.3):
            options = [(x + dist * math.cos(math.radians(a)), y + dist * math.sin(math.radians(a)))
                       for a in (135, 45, 225, 315, 180, 0, 90, 270)]
            ok = [p for p in options
                  if left <= p[0] <= right and bottom <= p[1] <= top
                  and all(math.hypot(p[0] - q[0], p[1] - q[1]) >= 7.8 for q in placed)
                  and all(math.hypot(p[0] - q[0], p[1] - q[1]) >= 4.7 for q in points)]
            if ok:
                placed.append(ok[0])
                break
        else:
            placed.append(options[0])
    return placed


def anatomical_delivery(hypothesis: str) -> bool:
    """Whether blood delivers cells along the anatomy (Ewing, combined) rather than to
    every organ alike (Paget, null): :data:`sim.config.schema.HYPOTHESES`."""
    return HYPOTHESES.get(hypothesis, ("anatomical", ""))[0] == "anatomical"


#: What the map says instead of route arrows when blood reaches every organ alike.
UNIFORM_CAPTION = "Blood carries cells to every organ alike"


class Route(NamedTuple):
    """A route out of the primary drawn as an arrow: its key, where it ends (cm), its name,
    a short name for a legend, its colour, and whether it is dashed (lymph)."""

    key: str
    target: Point
    label: str
    short: str
    color: str
    dashed: bool


def routes_for(site: str, layout: object = None, *, hypothesis: str = "combined",
               ) -> list[Route]:
    """The routes out of the primary to draw: the venous routes only when blood delivers
    cells along the anatomy (``hypothesis`` ewing or combined), the lymph to the regional
    nodes always. ``layout`` is ignored (kept for old callers)."""
    sp = PRIMARY_SITES.get(site)
    if sp is None:
        return []
    px, py = primary_position(site)
    drainage = sp.venous_drainage
    routes = []
    if anatomical_delivery(hypothesis):
        if drainage.get("caval"):
            # the lung farther from the tumour, so that the arrow is seen
            lung = (-9.0, 132.0) if px > 0 else (9.5, 132.0)
            routes.append(Route("caval", lung, "caval veins → heart → lungs", "caval veins",
                                "#1f4e9c", False))
        if drainage.get("portal"):
            routes.append(Route("portal", ORGAN_ANCHOR["liver"], "portal vein → liver",
                                "portal vein", "#9c4e1f", False))
        if drainage.get("pulmonary_vein"):
            routes.append(Route("pulmonary", ORGAN_ANCHOR["brain"],
                                "pulmonary veins → heart → body", "lung veins", "#b8860b",
                                False))
        if drainage.get("vertebral"):
            routes.append(Route("vertebral", SPINE_POINT, "Batson's plexus → spine",
                                "Batson veins", "#555555", False))
    if sp.routes.get("lymph", 0) > 0:
        routes.append(Route("lymph", REGIONAL_NODES.get(site, (px + 3, py + 3)),
                            "lymph vessels → nearby nodes", "lymph", "#2e8b57", True))
    return routes


def primary_fill(primary_cells: float) -> str:
    """The primary's star: filled while the tumour is there, white once it is removed."""
    return "white" if primary_cells <= 0 else PRIMARY_COLOR


def star_radius(primary_cells: float) -> float:
    """Outer radius of the primary's star (cm): 2.6, growing by 0.72 per tenfold beyond
    10^6 cells (the old map's 0.3 + 1/12 per tenfold on its 20.2-unit body)."""
    return 2.6 + max(0.0, math.log10(max(primary_cells, 1.0)) - 6.0) * 0.72


def star_points(x: float, y: float, radius: float) -> list[Point]:
    """The ten corners of a five-pointed star centred on (x, y), a point upwards."""
    points = []
    for k in range(10):
        a = math.pi / 2 + k * math.pi / 5
        r = radius if k % 2 == 0 else 0.45 * radius
        points.append((x + r * math.cos(a), y + r * math.sin(a)))
    return points


def dormant_dot(organ: str, dormant_cells: float, site: str = "breast",
                ) -> tuple[float, float, float]:
    """The dot that marks dormant cells in an organ: centre (just above the organ's anchor,
    :func:`anchor`) and radius (cm, growing with the log of the count)."""
    radius = min(0.6 + math.log10(1 + dormant_cells) / 7, 1.7)
    x, y = anchor(organ, site)
    return x, y + 2.2, radius
