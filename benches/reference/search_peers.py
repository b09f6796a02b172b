"""faiss and hnswlib on the very data set `search-bench --dump DIR` wrote.

A benchmark tool only, never part of the product: it tells whether the
recall facecore's index reaches on face-like data is a property of the data
or of our index, by running the usual libraries on the same vectors and
queries with the same yardstick (of the enrolled queries exact search
answers with the right person, how many the library answers with the same
face). Needs `pip install faiss-cpu==1.15.1 hnswlib==0.8.0 numpy`.

    cargo run --release -p facecore-store --example search-bench -- \
        --real target/calibration/faces-dev.jsonl \
        --labels ../shared/data/faces-dev/labels.csv \
        --faces 100000 --no-store --dump target/search-dump
    python benches/reference/search_peers.py target/search-dump
"""
import sys
import time

import faiss
import hnswlib
import numpy as np

DIM = 512


def main(d):
    base = np.fromfile(f"{d}/base.f32", dtype="<f4").reshape(-1, DIM)
    queries = np.fromfile(f"{d}/enrolled.f32", dtype="<f4").reshape(-1, DIM)
    lines = open(f"{d}/persons.txt").read().split("\n")
    split = lines.index("queries")
    person = np.array([int(x) for x in lines[:split]])
    qperson = np.array([int(x) for x in lines[split + 1:] if x])

    flat = faiss.IndexFlatIP(DIM)
    flat.add(base)
    _, found = flat.search(queries, 1)
    exact = found[:, 0]
    right = person[exact] == qperson
    print(f"{len(base)} faces, {len(queries)} enrolled queries; exact search right for {right.mean() * 100:.2f}%")

    def report(name, top, seconds):
        agreement = (top[right] == exact[right]).mean() * 100
        hit = (person[top] == qperson).mean() * 100
        print(f"| {name} | {seconds * 1e3 / len(queries):.2f} | {agreement:.2f}% | {hit:.2f}% |")

    print("| library | ms per query (1 thread) | rank-1 agreement | enrolled hit rate |")
    print("|---|---:|---:|---:|")
    faiss.omp_set_num_threads(2)
    nlist = int(4 * len(base) ** 0.5)
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(base[:: max(1, len(base) // (nlist * 64))])
    ivf.add(base)
    faiss.omp_set_num_threads(1)
    for nprobe in [nlist // 20, nlist // 10, nlist // 5, nlist // 4]:
        ivf.nprobe = nprobe
        started = time.time()
        _, found = ivf.search(queries, 1)
        report(f"faiss IVF{nlist},Flat nprobe {nprobe}", found[:, 0], time.time() - started)

    hnsw = hnswlib.Index(space="ip", dim=DIM)
    hnsw.init_index(max_elements=len(base), M=16, ef_construction=100)
    hnsw.set_num_threads(2)
    started = time.time()
    hnsw.add_items(base)
    print(f"(hnswlib M=16 built in {time.time() - started:.0f} s on 2 threads)")
    hnsw.set_num_threads(1)
    for ef in [64, 128, 256, 512]:
        hnsw.set_ef(ef)
        started = time.time()
        found, _ = hnsw.knn_query(queries, k=1)
        report(f"hnswlib M=16 ef {ef}", found[:, 0].astype(np.int64), time.time() - started)


if __name__ == "__main__":
    main(sys.argv[1])
