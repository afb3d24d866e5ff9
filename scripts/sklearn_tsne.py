"""scikit-learn's t-SNE on the same codings as the course's, for `cargo bench --bench tsne`.

Usage: sklearn_tsne.py CODINGS.f32 ROWS COLS [PERPLEXITY]
Reads a row-major little-endian float32 matrix, runs `TSNE()` with its defaults (as the slide
does), and prints one line: `sklearn seconds=<s> trustworthiness=<t> kl=<kl> version=<v>`.
"""
import sys
import time

import numpy as np
import sklearn
from sklearn.manifold import TSNE, trustworthiness

path, rows, cols = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
perplexity = float(sys.argv[4]) if len(sys.argv) > 4 else 30.0
x = np.fromfile(path, dtype="<f4").reshape(rows, cols)
start = time.perf_counter()
tsne = TSNE(perplexity=perplexity)
y = tsne.fit_transform(x)
seconds = time.perf_counter() - start
t = trustworthiness(x, y, n_neighbors=5)
np.asarray(y, dtype="<f4").tofile(path + ".sklearn")
print(f"sklearn seconds={seconds:.3f} trustworthiness={t:.5f} kl={tsne.kl_divergence_:.5f} version={sklearn.__version__}")
