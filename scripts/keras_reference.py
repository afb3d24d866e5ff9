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
    time_model("stacked_ae", stacked_ae, x, 32)


if __name__ == "__main__":
    main()
