"""openTSNE's t-SNE (FFT-accelerated interpolation) on the same codings as the course's, for the
large case of `cargo bench --bench tsne`.

Usage: opentsne_tsne.py CODINGS.f32 ROWS COLS SUBSAMPLE
Reads a row-major little-endian float32 matrix, runs `openTSNE.TSNE(n_jobs=cores)` with its
defaults (perplexity 30), and prints one line:
`opentsne seconds=<s> peak_mb=<MB> trustworthiness=<t> version=<v>`, where the peak is the
process's resident memory above what it held before the run, and the trustworthiness (k = 5) is
measured on the first SUBSAMPLE points (the same points the course's figure uses).
"""
import os
import resource
import sys
import time

import numpy as np
import openTSNE
from sklearn.manifold import trustworthiness


def resident_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


path, rows, cols, subsample = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
x = np.fromfile(path, dtype="<f4").reshape(rows, cols)
before = resident_mb()
start = time.perf_counter()
y = openTSNE.TSNE(n_jobs=os.cpu_count() or 1, random_state=42).fit(x)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
t = trustworthiness(x[:subsample], np.asarray(y)[:subsample], n_neighbors=5)
print(f"opentsne seconds={seconds:.3f} peak_mb={peak:.0f} trustworthiness={t:.5f} version={openTSNE.__version__}")
