"""The slides' own tf.keras models, timed the way `cargo bench --bench train_speed` times the
course's: the same Fashion-MNIST images, the same batch size, a fixed number of steps after a
warm-up. Run by the benchmark (which makes the virtual environment with pip on first use).

Usage: keras_reference.py STEPS WARMUP
Prints one line per model: `keras <name> batch=<b> samples_per_second=<s>`.
"""
import gzip
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402

STEPS, WARMUP = int(sys.argv[1]), int(sys.argv[2])
DATA = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


def load_images():
    with gzip.open(os.path.join(DATA, "train-images-idx3-ubyte.gz")) as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    return (raw.reshape(-1, 28, 28) / 255.0).astype(np.float32)


def toy_3d_data(m, w1=0.1, w2=0.3, noise=0.1, seed=4):
    """The book's 3-D toy data for the linear autoencoder (lesson 01), `m` points."""
    rng = np.random.default_rng(seed)
    angles = rng.random(m) * 3 * np.pi / 2 - 0.5
    x = np.empty((m, 3))
    x[:, 0] = np.cos(angles) + np.sin(angles) / 2 + noise * rng.standard_normal(m) / 2
    x[:, 1] = np.sin(angles) * 0.7 + noise * rng.standard_normal(m) / 2
    x[:, 2] = x[:, 0] * w1 + x[:, 1] * w2 + noise * rng.standard_normal(m)
    return (x - x.mean(axis=0)).astype(np.float32)


def linear_ae():
    encoder = keras.models.Sequential([keras.layers.Dense(2, input_shape=[3])])
    decoder = keras.models.Sequential([keras.layers.Dense(3, input_shape=[2])])
    model = keras.models.Sequential([encoder, decoder])
    model.compile(loss="mse", optimizer=keras.optimizers.SGD(learning_rate=0.1))
    return model


def stacked_ae():
    encoder = keras.models.Sequential([
        keras.layers.Flatten(input_shape=[28, 28]),
        keras.layers.Dense(100, activation="selu"),
        keras.layers.Dense(30, activation="selu"),
    ])
    decoder = keras.models.Sequential([
        keras.layers.Dense(100, activation="selu", input_shape=[30]),
        keras.layers.Dense(28 * 28, activation="sigmoid"),
        keras.layers.Reshape([28, 28]),
    ])
    model = keras.models.Sequential([encoder, decoder])
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=1.5))
    return model


def time_model(name, build, x, batch):
    model = build()
    model.fit(x[: WARMUP * batch], x[: WARMUP * batch], batch_size=batch, epochs=1, verbose=0)
    data = x[: STEPS * batch]
    start = time.perf_counter()
    model.fit(data, data, batch_size=batch, epochs=1, verbose=0, shuffle=True)
    seconds = time.perf_counter() - start
    print(f"keras {name} batch={batch} samples_per_second={len(data) / seconds:.1f}", flush=True)


def main():
    tf.random.set_seed(42)
    x = load_images()
    print(f"keras version={tf.__version__} threads={tf.config.threading.get_intra_op_parallelism_threads()}", flush=True)
    time_model("linear_ae", linear_ae, toy_3d_data(STEPS * 32), 32)
    time_model("stacked_ae", stacked_ae, x, 32)


if __name__ == "__main__":
    main()
