"""onnxruntime reference figures for the buffalo_s model set's tests.

Runs the two InsightFace models facecore loads for the opt-in `buffalo_s`
set with onnxruntime and prints what the Rust tests compare with:

- w600k_mbf.onnx on the "ramp" input of the other reference tests
  (element i = ((i mod 255) - 127) / 128, shape [1, 3, 112, 112]): the first
  eight outputs, their sum and the L2 norm;
- scrfd_500m_bnkps.onnx on a ramp of shape [1, 3, 640, 640]: per output,
  its length, the largest value and its index;
- SCRFD end to end on fixtures/astronaut.png, written here independently of
  the Rust code: letterbox (aspect kept, bilinear with OpenCV's pixel-centre
  convention, top-left of a black 640x640 canvas), (v - 127.5) / 128, the
  anchor decoding of strides 8/16/32 with two anchors per cell, score 0.5,
  NMS 0.4; prints each box, score and the five keypoints.

A reference tool only, never part of the product:
    target/ort-venv/bin/python benches/reference/buffalo_reference.py models
"""
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image


def ramp(n):
    return ((np.arange(n) % 255).astype(np.float32) - 127.0) / 128.0


def bilinear(img, w, h):
    """Resizes an HxWx3 uint8 array to h x w, pixel centres at half-integers,
    edge clamping, no prefilter (OpenCV's INTER_LINEAR)."""
    src_h, src_w = img.shape[:2]
    sx, sy = src_w / w, src_h / h
    xs = (np.arange(w) + 0.5) * sx - 0.5
    ys = (np.arange(h) + 0.5) * sy - 0.5
    xs = np.clip(xs, 0, src_w - 1)
    ys = np.clip(ys, 0, src_h - 1)
    x0 = np.floor(xs).astype(int)
    y0 = np.floor(ys).astype(int)
    x1 = np.minimum(x0 + 1, src_w - 1)
    y1 = np.minimum(y0 + 1, src_h - 1)
    fx = (xs - x0)[None, :, None]
    fy = (ys - y0)[:, None, None]
    f = img.astype(np.float32)
    top = f[y0][:, x0] * (1 - fx) + f[y0][:, x1] * fx
    bottom = f[y1][:, x0] * (1 - fx) + f[y1][:, x1] * fx
    return np.clip(np.round(top * (1 - fy) + bottom * fy), 0, 255).astype(np.uint8)


def nms(boxes, scores, iou):
    order = np.argsort(-scores)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[order[1:], 0])
        yy1 = np.maximum(boxes[i, 1], boxes[order[1:], 1])
        xx2 = np.minimum(boxes[i, 2], boxes[order[1:], 2])
        yy2 = np.minimum(boxes[i, 3], boxes[order[1:], 3])
        inter = np.maximum(0, xx2 - xx1) * np.maximum(0, yy2 - yy1)
        area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        union = area(boxes[[i]]) + area(boxes[order[1:]]) - inter
        order = order[1:][inter / union <= iou]
    return keep


def scrfd(session, path):
    img = np.asarray(Image.open(path).convert("RGB"))
    h, w = img.shape[:2]
    scale = min(640 / w, 640 / h)
    nw, nh = int(w * scale), int(h * scale)
    canvas = np.zeros((640, 640, 3), np.uint8)
    canvas[:nh, :nw] = bilinear(img, nw, nh)
    scale = nh / h
    x = ((canvas.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
    out = session.run(None, {session.get_inputs()[0].name: x})
    boxes, scores, points = [], [], []
    for level, stride in enumerate((8, 16, 32)):
        cells = 640 // stride
        ys, xs = np.mgrid[:cells, :cells]
        centres = np.stack([xs, ys], axis=-1).reshape(-1, 2) * stride
        centres = np.repeat(centres, 2, axis=0).astype(np.float32)
        s = out[level].reshape(-1)
        d = out[level + 3].reshape(-1, 4) * stride
        k = out[level + 6].reshape(-1, 10) * stride
        keep = s >= 0.5
        c = centres[keep]
        b = np.stack([c[:, 0] - d[keep, 0], c[:, 1] - d[keep, 1],
                      c[:, 0] + d[keep, 2], c[:, 1] + d[keep, 3]], axis=1) / scale
        b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, w)
        b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, h)
        p = (np.tile(c, 5) + k[keep]) / scale
        boxes.append(b)
        scores.append(s[keep])
        points.append(p)
    boxes, scores, points = map(np.concatenate, (boxes, scores, points))
    for i in nms(boxes, scores, 0.4):
        print("face", np.round(boxes[i], 2).tolist(), round(float(scores[i]), 5),
              np.round(points[i], 2).tolist())


def main():
    models = sys.argv[1] if len(sys.argv) > 1 else "models"
    emb = ort.InferenceSession(f"{models}/w600k_mbf.onnx")
    out = emb.run(None, {emb.get_inputs()[0].name: ramp(3 * 112 * 112).reshape(1, 3, 112, 112)})[0][0]
    print("w600k first8", np.round(out[:8], 5).tolist())
    print("w600k sum", round(float(out.sum()), 4), "norm", round(float(np.linalg.norm(out)), 4))
    det = ort.InferenceSession(f"{models}/scrfd_500m_bnkps.onnx")
    out = det.run(None, {det.get_inputs()[0].name: ramp(3 * 640 * 640).reshape(1, 3, 640, 640)})
    for o, y in zip(det.get_outputs(), out):
        flat = y.reshape(-1)
        print("scrfd", o.name, flat.size, int(flat.argmax()), round(float(flat.max()), 5),
              round(float(flat.sum()), 3))
    scrfd(det, "fixtures/astronaut.png")


if __name__ == "__main__":
    main()
