"""The buffalo_s models on a whole labelled set, the InsightFace way, with
onnxruntime and OpenCV: a reference for `cargo xtask eval --set buffalo_s`.

If the Rust pipeline (tract, our SCRFD decoder, our alignment) lost accuracy
somewhere, this run would score higher than facecore's report on the same
photos. The recipe is InsightFace's published one, written here on its own:

- SCRFD-500MF on a 640x640 canvas: the photo resized (cv2.INTER_LINEAR) to
  fit, aspect kept, at the top left of a black canvas; (v - 127.5) / 128 in
  BGR order; strides 8/16/32, two anchors per cell, score 0.5, NMS 0.4;
- the dominant face: largest box area times score;
- a least-squares similarity (Umeyama) from its five keypoints to ArcFace's
  112x112 template, cv2.warpAffine with bilinear sampling and a black border;
- w600k_mbf on (v - 127.5) / 127.5 in RGB order; with --flip, the sum of the
  crop's and its mirror image's embeddings (facecore's flip test).

Prints the photos without a face, ROC AUC and TAR at FAR 1e-4 over all
genuine and impostor pairs, on the labels as given and without the rows of
an errata file (docs/eval/faces-dev-errata.csv by default).

A reference tool only, never part of the product (measured 2026-12-07 with
onnxruntime 1.32.0, opencv-python-headless 5.1.0.95, numpy 2.4):
    python3 -m venv target/ort-venv
    target/ort-venv/bin/pip install onnxruntime numpy opencv-python-headless
    target/ort-venv/bin/python benches/reference/buffalo_faces_dev.py \
        ../shared/data/faces-dev models [--flip] [--errata FILE]
"""
import argparse
import os

import cv2
import numpy as np
import onnxruntime as ort

from buffalo_reference import nms

# ArcFace's five-point template for 112x112 crops (eyes, nose tip, mouth
# corners), as InsightFace publishes it.
TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                     [41.5493, 92.3655], [70.7299, 92.2041]], np.float64)


def similarity(src, dst):
    """Least-squares similarity src -> dst (Umeyama, 1991) as a 2x3 matrix."""
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.array([1.0, -1.0 if np.linalg.det(cov) < 0 else 1.0])
    rot = u @ np.diag(sign) @ vt
    scale = (sig * sign).sum() / (s ** 2).sum() * len(src)
    out = np.zeros((2, 3))
    out[:, :2] = scale * rot
    out[:, 2] = md - scale * rot @ ms
    return out


def detect(session, bgr, size=640, threshold=0.5):
    """(box, score, five keypoints) per face, in photo pixels."""
    h, w = bgr.shape[:2]
    ratio = min(size / w, size / h)
    nw, nh = max(1, int(w * ratio)), max(1, int(h * ratio))
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[:nh, :nw] = cv2.resize(bgr, (nw, nh))
    scale = nh / h
    blob = ((canvas.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
    out = session.run(None, {session.get_inputs()[0].name: blob})
    boxes, scores, points = [], [], []
    for level, stride in enumerate((8, 16, 32)):
        cells = size // stride
        ys, xs = np.mgrid[:cells, :cells]
        centres = np.repeat(np.stack([xs, ys], -1).reshape(-1, 2) * stride, 2, 0)
        s = out[level].reshape(-1)
        keep = s >= threshold
        c = centres[keep].astype(np.float32)
        d = out[level + 3].reshape(-1, 4)[keep] * stride
        k = out[level + 6].reshape(-1, 10)[keep] * stride
        boxes.append(np.stack([c[:, 0] - d[:, 0], c[:, 1] - d[:, 1],
                               c[:, 0] + d[:, 2], c[:, 1] + d[:, 3]], 1) / scale)
        points.append((np.tile(c, 5) + k) / scale)
        scores.append(s[keep])
    boxes, scores, points = map(np.concatenate, (boxes, scores, points))
    if not len(scores):
        return []
    return [(boxes[i], float(scores[i]), points[i].reshape(5, 2)) for i in nms(boxes, scores, 0.4)]


def embed(session, bgr, face, flip):
    box, score, points = face
    crop = cv2.warpAffine(bgr, similarity(points.astype(np.float64), TEMPLATE), (112, 112),
                          flags=cv2.INTER_LINEAR, borderValue=0)
    rgb = crop[:, :, ::-1].astype(np.float32)
    batch = [rgb] + ([rgb[:, ::-1]] if flip else [])
    name = session.get_inputs()[0].name
    v = sum(session.run(None, {name: ((x - 127.5) / 127.5).transpose(2, 0, 1)[None].copy()})[0][0]
            for x in batch)
    return v / np.linalg.norm(v)


def read_errata(path):
    rows = []
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#") and line != "path,reason":
            rows.append(line.split(",", 1)[0])
    return rows


def figures(paths, vectors, excluded):
    keep = [i for i, p in enumerate(paths)
            if not any(p == r or (r.endswith("/") and p.startswith(r)) for r in excluded)]
    v = vectors[keep]
    ids = np.array([paths[i].split("/")[-2] for i in keep])
    upper = np.triu_indices(len(keep), 1)
    same = (ids[:, None] == ids[None, :])[upper]
    cos = (v @ v.T)[upper]
    genuine, impostor = cos[same], np.sort(cos[~same])
    below = np.searchsorted(impostor, genuine, "left")
    ties = np.searchsorted(impostor, genuine, "right") - below
    auc = (below + 0.5 * ties).sum() / (len(genuine) * len(impostor))
    threshold = impostor[int(np.ceil(len(impostor) * (1 - 1e-4)))]
    return len(keep), len(genuine), len(impostor), auc, float(np.mean(genuine > threshold))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("models")
    ap.add_argument("--flip", action="store_true")
    ap.add_argument("--errata", default=os.path.join(here, "../../docs/eval/faces-dev-errata.csv"))
    args = ap.parse_args()
    det = ort.InferenceSession(f"{args.models}/scrfd_500m_bnkps.onnx", providers=["CPUExecutionProvider"])
    emb = ort.InferenceSession(f"{args.models}/w600k_mbf.onnx", providers=["CPUExecutionProvider"])
    rows = [line.strip().split(",") for line in open(f"{args.data}/labels.csv")][1:]
    paths, vectors, no_face = [], [], []
    for n, (path, _) in enumerate(rows):
        bgr = cv2.imread(f"{args.data}/{path}")
        faces = detect(det, bgr) if bgr is not None else []
        if not faces:
            no_face.append(path)
            continue
        face = max(faces, key=lambda f: (f[0][2] - f[0][0]) * (f[0][3] - f[0][1]) * f[1])
        paths.append(path)
        vectors.append(embed(emb, bgr, face, args.flip))
        if n % 250 == 0:
            print(f"{n} of {len(rows)}", flush=True)
    vectors = np.array(vectors, np.float32)
    print(f"{len(no_face)} of {len(rows)} photos without a face")
    excluded = read_errata(args.errata) if os.path.exists(args.errata) else []
    for label, rows_out in (("labels as given", []), (f"without {len(excluded)} errata rows", excluded)):
        photos, g, i, auc, tar = figures(paths, vectors, rows_out)
        print(f"{label}: {photos} photos, {g} genuine and {i} impostor pairs, "
              f"ROC AUC {auc:.4f}, TAR at FAR 1e-4 {tar * 100:.2f} %")


if __name__ == "__main__":
    main()
