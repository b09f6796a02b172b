"""onnxruntime reference timings for `cargo xtask bench-report`.

Runs the same three ONNX models facecore uses (detector, landmarks, embedder)
with onnxruntime, one thread, batch 1, on inputs of the right shape, and prints
one JSON object of median milliseconds per model. A benchmark tool only: never
part of the product.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort


def median_ms(fn, runs):
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000.0)
    times.sort()
    return times[len(times) // 2]


def main():
    models_dir = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    rng = np.random.default_rng(7)
    out = {"onnxruntime": ort.__version__, "threads": 1, "runs": runs}
    for key, name, shape in [
        ("detect", "fr_detect.onnx", (1, 3, 240, 320)),
        ("landmarks", "fr_landmark.onnx", (1, 1, 64, 64)),
        ("embed", "fr_feature.onnx", (1, 3, 112, 112)),
    ]:
        sess = ort.InferenceSession(f"{models_dir}/{name}", opts, providers=["CPUExecutionProvider"])
        x = rng.uniform(-1, 1, size=shape).astype(np.float32)
        inp = sess.get_inputs()[0].name
        out[key] = median_ms(lambda: sess.run(None, {inp: x}), runs)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
