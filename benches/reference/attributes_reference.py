"""onnxruntime reference of facecore's age, gender and pose recipes
(docs/attributes.md). An evaluation tool only: never part of the product.

    python3 attributes_reference.py refs MODELS_DIR FIXTURES_DIR
        reference outputs on ramp inputs and on the fixtures (and their mirrors)
    python3 attributes_reference.py eval MODELS_DIR FACES_DEV LIST_ATTR_CELEBA [SSR_DIR]
        gender accuracy (Wilson 95 %), age vs Young (AUC, threshold accuracy)
        and pose mirror symmetry on faces-dev, with CelebA's attribute list
        (never committed); SSR_DIR holds the npm package's fr_age.onnx and
        fr_gender.onnx to measure them too.

Needs numpy, Pillow and onnxruntime (a throw-away virtualenv).
"""
import csv
import math
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

def sess(p):
    o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1
    return ort.InferenceSession(p, o, providers=['CPUExecutionProvider'])

def load(path):
    im = Image.open(path); im = ImageOps.exif_transpose(im)
    return np.asarray(im.convert('RGB'))

def resize_region(img, x, y, w, h, ow, oh):
    """facecore-image's resize_region_bilinear: pixel-centre bilinear, clamped."""
    H, W = img.shape[:2]
    x, y = min(x, W), min(y, H); w = min(w, W - x); h = min(h, H - y)
    fx, fy = w / ow, h / oh
    sx = np.clip((np.arange(ow) + 0.5) * fx - 0.5, 0, w - 1); sy = np.clip((np.arange(oh) + 0.5) * fy - 0.5, 0, h - 1)
    x0 = np.floor(sx).astype(int); x1 = np.minimum(x0 + 1, w - 1); wx = (sx - x0)[None, :, None]
    y0 = np.floor(sy).astype(int); y1 = np.minimum(y0 + 1, h - 1); wy = (sy - y0)[:, None, None]
    r = img[y:y + h, x:x + w].astype(np.float32)
    top = r[y0][:, x0] * (1 - wx) + r[y0][:, x1] * wx
    bot = r[y1][:, x0] * (1 - wx) + r[y1][:, x1] * wx
    return top * (1 - wy) + bot * wy   # float, not rounded

class Detector:
    def __init__(self, models):
        self.det = sess(f'{models}/fr_detect.onnx'); self.lm = sess(f'{models}/fr_landmark.onnx')
    def faces(self, img, thr=0.65):
        H, W = img.shape[:2]
        small = resize_region(img, 0, 0, W, H, 320, 240)
        small = np.round(small)
        x = ((small - 127) / 128).transpose(2, 0, 1)[None].astype(np.float32)
        scores, boxes = self.det.run(None, {'input': x})
        s = scores[0, :, 1]; b = boxes[0]
        keep = np.where(s >= thr)[0]
        keep = keep[np.argsort(-s[keep])]
        out = []
        for i in keep:
            bb = b[i] * [W, H, W, H]
            bb = np.clip(bb, 0, [W, H, W, H])
            if any(iou(bb, o[0]) > 0.3 for o in out): continue
            out.append((bb, float(s[i])))
        res = []
        for bb, sc in out:
            box = (bb[0], bb[1], bb[2] - bb[0], bb[3] - bb[1])
            if box[2] < 1 or box[3] < 1: continue
            res.append(dict(box=box, score=sc, lm=self.landmarks(img, box)))
        res.sort(key=lambda f: -f['box'][2] * f['box'][3] * f['score'])
        return res
    def landmarks(self, img, box):
        H, W = img.shape[:2]
        side = min(max(round(box[3]), 1), W, H)
        cx = box[0] + box[2] / 2; cy = box[1] + box[3] / 2
        x = max(round(cx - side / 2), 0); y = max(round(cy - side / 2), 0)
        x = min(x, W - side); y = min(y, H - side)
        crop = np.round(resize_region(img, x, y, side, side, 64, 64))
        g = np.round(crop @ np.array([0.299, 0.587, 0.114]))  # approx grey
        inp = (g / 256.0)[None, None].astype(np.float32)
        p = self.lm.run(None, {'input': inp})[0][0].reshape(68, 2) * side + [x, y]
        m = lambda idx: p[idx].mean(0)
        return np.array([m([37, 38, 40, 41]), m([43, 44, 46, 47]), p[30], m([48, 60]), m([54, 64])])

def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0])); iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / u if u > 0 else 0


IMNET_MEAN = np.array([0.485, 0.456, 0.406]); IMNET_STD = np.array([0.229, 0.224, 0.225])

def expand_box(box, scale, W, H):
    """JS alignAgeImage: box scaled about its centre (scale capped so it fits), moved inside."""
    x, y, w, h = box
    s = min((H - 1) / h, (W - 1) / w, scale)
    nw, nh = w * s, h * s; cx, cy = x + w / 2, y + h / 2
    l, t, r, b = cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2
    if l < 0: r -= l; l = 0
    if t < 0: b -= t; t = 0
    if r > W - 1: l -= r - W + 1; r = W - 1
    if b > H - 1: t -= b - H + 1; b = H - 1
    return l, t, r - l, b - t

def region(img, l, t, w, h, size):
    x, y = max(int(round(l)), 0), max(int(round(t)), 0)
    return np.round(resize_region(img, x, y, max(int(round(w)), 1), max(int(round(h)), 1), size, size))

def imagenet(crop, bgr=False):
    c = crop[..., ::-1] if bgr else crop
    return ((c / 255.0 - IMNET_MEAN) / IMNET_STD).transpose(2, 0, 1)[None].astype(np.float32)

def ssr_crop(img, box, scale=1.4):
    H, W = img.shape[:2]
    return region(img, *expand_box(box, scale, W, H), 64)

def ssr_merge(o, V, centred=False):
    p1, p2, p3, d1, d2, d3, o1, o2, o3 = [np.asarray(v).reshape(-1) for v in o]
    s = 3; sh = (s // 2) if centred else 0
    a = sum((i - sh + o1[i]) * p1[i] for i in range(s)) / (s * (1 + d1[0]))
    b = sum((i - sh + o2[i]) * p2[i] for i in range(s)) / (s * (1 + d1[0])) / (s * (1 + d2[0]))
    c = sum((i - sh + o3[i]) * p3[i] for i in range(s)) / (s * (1 + d1[0])) / (s * (1 + d2[0])) / (s * (1 + d3[0]))
    return (a + b + c) * V

def pose_crop(img, box, grow=0.25):
    H, W = img.shape[:2]
    x, y, w, h = box
    l, t = max(x - w * grow, 0), max(y - h * grow, 0)
    r, b = min(x + w * (1 + grow), W), min(y + h * (1 + grow), H)
    return region(img, l, t, r - l, b - t, 224)

def softmax(v):
    e = np.exp(v - v.max()); return e / e.sum()

def pose_decode(outs):
    idx = np.arange(66)
    return [float((softmax(np.asarray(o).reshape(-1)) * idx).sum() * 3 - 99) for o in outs]

# dlib's mean face (68-point get_face_chip_details), points 17..67, in [0,1] chip units.
MX = [0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124, 0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036, 0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918, 0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149, 0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721, 0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874, 0.553364, 0.490127, 0.42689]
MY = [0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326, 0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733, 0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099, 0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805, 0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746, 0.784792, 0.824182, 0.831803, 0.824182]
def mp(i): return np.array([MX[i - 17], MY[i - 17]])
DLIB5 = np.array([np.mean([mp(i) for i in (37, 38, 40, 41)], 0), np.mean([mp(i) for i in (43, 44, 46, 47)], 0), mp(30), (mp(48) + mp(60)) / 2, (mp(54) + mp(64)) / 2])

def similarity(src, dst):
    """Least-squares similarity (no reflection) mapping src points to dst points: dst ≈ A @ src + t."""
    sm, dm = src.mean(0), dst.mean(0); s, d = src - sm, dst - dm
    a = (s * d).sum() / (s ** 2).sum()
    b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / (s ** 2).sum()
    A = np.array([[a, -b], [b, a]]); return A, dm - A @ sm

def bilinear(img, xs, ys):
    H, W = img.shape[:2]
    inside = (xs >= 0) & (ys >= 0) & (xs <= W - 1) & (ys <= H - 1)
    xc, yc = np.clip(xs, 0, W - 1), np.clip(ys, 0, H - 1)
    x0 = np.minimum(np.floor(xc).astype(int), W - 2 if W > 1 else 0); y0 = np.minimum(np.floor(yc).astype(int), H - 2 if H > 1 else 0)
    x1 = np.minimum(x0 + 1, W - 1); y1 = np.minimum(y0 + 1, H - 1)
    wx = (xc - x0)[..., None]; wy = (yc - y0)[..., None]
    f = img.astype(np.float32)
    v = (f[y0, x0] * (1 - wx) + f[y0, x1] * wx) * (1 - wy) + (f[y1, x0] * (1 - wx) + f[y1, x1] * wx) * wy
    return np.where(inside[..., None], v, 0)

def dlib_chip(img, lm, size, padding=0.2, pyramid=True):
    tmpl = (padding + DLIB5) / (2 * padding + 1) * size
    A, t = similarity(tmpl, np.asarray(lm))   # chip -> image
    scale = np.sqrt(abs(np.linalg.det(A)))
    src = img.astype(np.float32); f = 1.0
    while pyramid and scale / f > 2 and min(src.shape[:2]) >= 4:
        h2, w2 = src.shape[0] // 2 * 2, src.shape[1] // 2 * 2
        src = src[:h2, :w2].reshape(h2 // 2, 2, w2 // 2, 2, 3).mean((1, 3)); f *= 2
    u, v = np.meshgrid(np.arange(size), np.arange(size))
    pts = np.stack([u, v], -1) @ A.T + t
    # a pixel centre of the halved image sits at (2i + 0.5) of the full one
    xs = (pts[..., 0] - (f - 1) / 2) / f; ys = (pts[..., 1] - (f - 1) / 2) / f
    return np.round(bilinear(src, xs, ys))

DLIB_MEAN = np.array([122.781998, 117.000999, 104.297997])
def dlib_input(chip):
    return ((chip - DLIB_MEAN) / 256.0).transpose(2, 0, 1)[None].astype(np.float32)
AGE_W = np.array([0.25] + list(range(1, 81)), dtype=np.float64)


def ramp(shape, scale=1.0):
    n = int(np.prod(shape))
    return ((((np.arange(n) % 255) - 127) / 128) * scale).astype(np.float32).reshape(shape)


class Attributes:
    def __init__(self, models):
        self.det = Detector(models)
        self.age = sess(f'{models}/dlib_age_v1.onnx')
        self.gender = sess(f'{models}/dlib_gender_v1.onnx')
        self.pose = sess(f'{models}/fr_pose.onnx')

    def run(self, img, face):
        pa = self.age.run(None, {'images': dlib_input(dlib_chip(img, face['lm'], 64))})[0][0]
        pg = self.gender.run(None, {'images': dlib_input(dlib_chip(img, face['lm'], 32))})[0][0]
        ps = pose_decode(self.pose.run(None, {'input': imagenet(pose_crop(img, face['box']))}))
        return float((pa * AGE_W).sum()), pg, ps


def refs(models, fixtures):
    a = Attributes(models)
    p = a.age.run(None, {'images': ramp((1, 3, 64, 64), 0.5)})[0][0]
    print('dlib_age half ramp:', {k: round(float(p[k]), 6) for k in (0, 19, 22, 25, 26, 28)}, 'age %.5f' % (p * AGE_W).sum())
    print('dlib_age ramp: p0 %.6f' % a.age.run(None, {'images': ramp((1, 3, 64, 64))})[0][0][0])
    for scale in (0.5, 1.0):
        print('dlib_gender ramp x%.1f:' % scale, a.gender.run(None, {'images': ramp((1, 3, 32, 32), scale)})[0][0])
    out = a.pose.run(None, {'input': ramp((1, 3, 224, 224))})
    for name, v in zip(('yaw', 'pitch', 'roll'), out):
        v = v.reshape(-1)
        print(f'fr_pose {name}: first4', v[:4].round(5), 'max %.5f at %d sum %.5f' % (v.max(), v.argmax(), v.sum()))
    print('fr_pose decoded', np.round(pose_decode(out), 4))
    for name in ('astronaut.png', 'camera.png'):
        img = load(f'{fixtures}/{name}')
        for tag, im in (('', img), ('mirrored ', img[:, ::-1].copy())):
            face = a.det.faces(im)[0]
            age, g, pose = a.run(im, face)
            print(f'{tag}{name}: age {age:.2f} gender (f, m) {g.round(5)} yaw/pitch/roll {np.round(pose, 2)}')


def wilson(k, n, z=1.96):
    p = k / n
    d = 1 + z * z / n
    c = p + z * z / (2 * n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (c - h) / d, (c + h) / d


def auc(score, y):
    score, y = np.asarray(score, float), np.asarray(y).astype(bool)
    order = np.argsort(score, kind='mergesort')
    ranks = np.empty(len(score))
    s = score[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j + 2) / 2
        i = j + 1
    npos, nneg = y.sum(), (~y).sum()
    return (ranks[y].sum() - npos * (npos + 1) / 2) / (npos * nneg)


def evaluate(models, faces_dev, attr_file, ssr_dir=None):
    with open(attr_file) as f:
        f.readline()
        names = f.readline().split()
        attrs = {p[0]: p[1:] for p in (line.split() for line in f)}
    male_i, young_i = names.index('Male'), names.index('Young')
    a = Attributes(models)
    ssr = (sess(f'{ssr_dir}/fr_age.onnx'), sess(f'{ssr_dir}/fr_gender.onnx')) if ssr_dir else None
    rows = list(csv.DictReader(open(f'{faces_dev}/labels.csv')))
    res = []
    for n, r in enumerate(rows):
        img = load(f"{faces_dev}/{r['path']}")
        faces = a.det.faces(img)
        if not faces:
            continue
        face = faces[0]
        age, g, pose = a.run(img, face)
        W = img.shape[1]
        x, y, w, h = face['box']
        lm = np.asarray(face['lm']).copy()
        lm[:, 0] = W - lm[:, 0]
        mirror = dict(box=(W - x - w, y, w, h), lm=lm[[1, 0, 2, 4, 3]])
        _, _, pose_m = a.run(img[:, ::-1].copy(), mirror)
        lab = attrs[r['path'].split('/')[-1]]
        item = dict(male=int(lab[male_i]) == 1, young=int(lab[young_i]) == 1, age=age, pmale=float(g[1]), pose=pose, pose_m=pose_m)
        if ssr:
            x = imagenet(ssr_crop(img, face['box']), bgr=True)
            item['ssr_age'] = ssr_merge(ssr[0].run(None, {'input': x}), 101)
            item['ssr_male'] = ssr_merge(ssr[1].run(None, {'input': x}), 1)
        res.append(item)
        if n % 200 == 0:
            print(f'{n} / {len(rows)}', file=sys.stderr)
    male = np.array([r['male'] for r in res])
    young = np.array([r['young'] for r in res])
    print(f'{len(res)} faces of {len(rows)} images; {male.sum()} male, {young.sum()} young')
    for name, key_age, key_male in (('dlib', 'age', 'pmale'), ('ssr-net (bgr)', 'ssr_age', 'ssr_male')):
        if key_age not in res[0]:
            continue
        pm = np.array([r[key_male] for r in res])
        k = int(((pm > 0.5) == male).sum())
        lo, hi = wilson(k, len(res))
        print(f'{name} gender: {k}/{len(res)} = {k / len(res):.4f} [{lo:.4f}, {hi:.4f}], AUC {auc(pm, male):.4f}')
        ages = np.array([r[key_age] for r in res])
        even = np.arange(len(res)) % 2 == 0
        t = max(np.arange(15, 60, 0.5), key=lambda t: ((ages[even] < t) == young[even]).mean())
        ok = (ages[~even] < t) == young[~even]
        lo, hi = wilson(int(ok.sum()), len(ok))
        print(f'{name} age vs Young: AUC {auc(-ages, young):.4f}; below {t} years = young: {ok.mean():.4f} [{lo:.4f}, {hi:.4f}]')
    p = np.array([r['pose'] for r in res])
    m = np.array([r['pose_m'] for r in res])
    s = np.abs(p[:, 0] + m[:, 0])
    turned = np.abs(p[:, 0]) > 5
    print(f'pose: |yaw + mirrored yaw| median {np.median(s):.2f}, p90 {np.percentile(s, 90):.2f}; '
          f'sign flips for {(np.sign(p[turned, 0]) != np.sign(m[turned, 0])).mean():.3f} of faces turned > 5 degrees')


if __name__ == '__main__':
    if len(sys.argv) >= 4 and sys.argv[1] == 'refs':
        refs(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == 'eval':
        evaluate(*sys.argv[2:6])
    else:
        sys.exit(__doc__)
