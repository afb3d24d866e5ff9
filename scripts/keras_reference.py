"""The slides' own tf.keras models, timed the way `cargo bench --bench train_speed` times the
course's: the same Fashion-MNIST images, the same batch size, whole epochs of shuffled batches
after a warm-up, validation excluded. The autoencoders train with `model.fit`, the GANs with the
book's loop of two `train_on_batch` calls, lesson 09's U-Net with `model.fit` on the book's
`prepare_dataset` (its sampling step: one inference call per batch of 256).

By default this is the Keras the book was written for: Keras 2, through `tf_keras` and
TF_USE_LEGACY_KERAS=1. With `--keras3` it is today's `tensorflow.keras` (Keras 3).

Usage: keras_reference.py STEPS WARMUP [--keras3] [MODEL ...]
Prints one line per model: `<keras|keras3> <name> batch=<b> samples_per_second=<s>`, after a
line `<keras|keras3> <name> timing` just before its clock starts.
"""
import gzip
import os
import sys
import time

KERAS3 = "--keras3" in sys.argv
ARGS = [a for a in sys.argv[1:] if a != "--keras3"]
STEPS, WARMUP = int(ARGS[0]), int(ARGS[1])
ONLY = set(ARGS[2:])
if not KERAS3:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

if KERAS3:
    from tensorflow import keras  # noqa: E402
else:
    import tf_keras as keras  # noqa: E402

LABEL = "keras3" if KERAS3 else "keras"
DATA = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


def load_images():
    with gzip.open(os.path.join(DATA, "train-images-idx3-ubyte.gz")) as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    return (raw.reshape(-1, 28, 28) / 255.0).astype(np.float32)[:55_000]


def toy_3d_data(m, w1=0.1, w2=0.3, noise=0.1, seed=4):
    """The book's 3-D toy data for the linear autoencoder (lesson 01), `m` points."""
    rng = np.random.default_rng(seed)
    angles = rng.random(m) * 3 * np.pi / 2 - 0.5
    x = np.empty((m, 3))
    x[:, 0] = np.cos(angles) + np.sin(angles) / 2 + noise * rng.standard_normal(m) / 2
    x[:, 1] = np.sin(angles) * 0.7 + noise * rng.standard_normal(m) / 2
    x[:, 2] = x[:, 0] * w1 + x[:, 1] * w2 + noise * rng.standard_normal(m)
    return (x - x.mean(axis=0)).astype(np.float32)


def dense_ae(first=None):
    encoder = [keras.layers.Flatten(input_shape=[28, 28])]
    if first is not None:
        encoder.append(first)
    encoder += [keras.layers.Dense(100, activation="selu"), keras.layers.Dense(30, activation="selu")]
    decoder = [
        keras.layers.Dense(100, activation="selu", input_shape=[30]),
        keras.layers.Dense(28 * 28, activation="sigmoid"),
        keras.layers.Reshape([28, 28]),
    ]
    return keras.models.Sequential([keras.models.Sequential(encoder), keras.models.Sequential(decoder)])


def linear_ae():
    model = keras.models.Sequential([keras.layers.Dense(2, input_shape=[3]), keras.layers.Dense(3)])
    model.compile(loss="mse", optimizer=keras.optimizers.SGD(learning_rate=0.1))
    return model


def stacked_ae():
    model = dense_ae()
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=1.5))
    return model


def denoising_ae():
    model = dense_ae(keras.layers.GaussianNoise(0.2))
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=1.0))
    return model


def conv_ae():
    encoder = keras.models.Sequential([
        keras.layers.Reshape([28, 28, 1], input_shape=[28, 28]),
        keras.layers.Conv2D(16, kernel_size=3, padding="same", activation="selu"),
        keras.layers.MaxPool2D(pool_size=2),
        keras.layers.Conv2D(32, kernel_size=3, padding="same", activation="selu"),
        keras.layers.MaxPool2D(pool_size=2),
        keras.layers.Conv2D(64, kernel_size=3, padding="same", activation="selu"),
        keras.layers.MaxPool2D(pool_size=2),
    ])
    decoder = keras.models.Sequential([
        keras.layers.Conv2DTranspose(32, kernel_size=3, strides=2, padding="valid", activation="selu", input_shape=[3, 3, 64]),
        keras.layers.Conv2DTranspose(16, kernel_size=3, strides=2, padding="same", activation="selu"),
        keras.layers.Conv2DTranspose(1, kernel_size=3, strides=2, padding="same", activation="sigmoid"),
        keras.layers.Reshape([28, 28]),
    ])
    model = keras.models.Sequential([encoder, decoder])
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=1.0))
    return model


class Sampling(keras.layers.Layer):
    def call(self, inputs):
        mean, log_var = inputs
        return tf.random.normal(tf.shape(log_var)) * tf.exp(log_var / 2) + mean


class LatentLoss(keras.layers.Layer):
    """The book's `add_loss(K.mean(latent_loss) / 784.)`, as a layer (Keras 3 needs it so)."""

    def call(self, inputs):
        mean, log_var = inputs
        latent = -0.5 * tf.reduce_sum(1 + log_var - tf.exp(log_var) - tf.square(mean), axis=-1)
        self.add_loss(tf.reduce_mean(latent) / 784.0)
        return mean


def vae():
    inputs = keras.layers.Input(shape=[28, 28])
    z = keras.layers.Flatten()(inputs)
    z = keras.layers.Dense(150, activation="selu")(z)
    z = keras.layers.Dense(100, activation="selu")(z)
    mean = keras.layers.Dense(10)(z)
    log_var = keras.layers.Dense(10)(z)
    mean = LatentLoss()([mean, log_var])
    codings = Sampling()([mean, log_var])
    x = keras.layers.Dense(100, activation="selu")(codings)
    x = keras.layers.Dense(150, activation="selu")(x)
    x = keras.layers.Dense(28 * 28, activation="sigmoid")(x)
    outputs = keras.layers.Reshape([28, 28])(x)
    model = keras.models.Model(inputs=[inputs], outputs=[outputs])
    model.compile(loss="binary_crossentropy", optimizer="rmsprop")
    return model


class TimeEncoding(keras.layers.Layer):
    """The book's sinusoidal encoding of the step t (handson-ml3, chapter 17)."""

    def __init__(self, steps, embed, **kwargs):
        super().__init__(**kwargs)
        p, i = np.meshgrid(np.arange(steps + 1), 2 * np.arange(embed // 2))
        table = np.empty((steps + 1, embed), dtype=np.float32)
        table[:, ::2] = np.sin(p / 10_000 ** (i / embed)).T
        table[:, 1::2] = np.cos(p / 10_000 ** (i / embed)).T
        self.table = tf.constant(table)

    def call(self, inputs):
        return tf.gather(self.table, inputs)


DIFFUSION_STEPS = 4000


def diffusion_model():
    """The book's `build_diffusion_model` (lesson 09's U-Net, 280,369 parameters)."""
    x_noisy = keras.layers.Input(shape=[28, 28, 1], name="X_noisy")
    time_input = keras.layers.Input(shape=[], dtype=tf.int32, name="time")
    time_enc = TimeEncoding(DIFFUSION_STEPS, 64)(time_input)
    add_time = lambda z, dim: keras.layers.Reshape([1, 1, dim])(keras.layers.Dense(dim)(time_enc)) + z  # noqa: E731
    z = keras.layers.ZeroPadding2D((3, 3))(x_noisy)
    z = keras.layers.Conv2D(16, 3)(z)
    z = keras.layers.BatchNormalization()(z)
    z = add_time(keras.layers.Activation("relu")(z), 16)
    skip, crossing = z, []
    for dim in (32, 64, 128):
        for _ in range(2):
            z = keras.layers.Activation("relu")(z)
            z = keras.layers.SeparableConv2D(dim, 3, padding="same")(z)
            z = keras.layers.BatchNormalization()(z)
        crossing.append(z)
        z = keras.layers.MaxPooling2D(3, strides=2, padding="same")(z)
        z = keras.layers.add([z, keras.layers.Conv2D(dim, 1, strides=2, padding="same")(skip)])
        z = add_time(z, dim)
        skip = z
    for dim in (64, 32, 16):
        for _ in range(2):
            z = keras.layers.Activation("relu")(z)
            z = keras.layers.Conv2DTranspose(dim, 3, padding="same")(z)
            z = keras.layers.BatchNormalization()(z)
        z = keras.layers.UpSampling2D(2)(z)
        z = keras.layers.add([z, keras.layers.Conv2D(dim, 1, padding="same")(keras.layers.UpSampling2D(2)(skip))])
        z = keras.layers.concatenate([add_time(z, dim), crossing.pop()], axis=-1)
        skip = z
    outputs = keras.layers.Cropping2D(2)(keras.layers.Conv2D(1, 3, padding="same")(z))
    return keras.models.Model(inputs=[x_noisy, time_input], outputs=[outputs])


def diffusion_dataset(x, batch):
    """The book's `prepare_dataset(X_train, shuffle=True)`: shuffled batches, each noised by its
    `prepare_batch` (a fresh step t and noise per image, the cosine schedule)."""
    t = np.arange(DIFFUSION_STEPS + 1)
    f = np.cos((t / DIFFUSION_STEPS + 0.008) / 1.008 * np.pi / 2) ** 2
    alpha = np.append(1, np.clip(f[1:] / f[:-1], 1 - 0.999, 1))
    alpha_cumprod = tf.constant(np.cumprod(alpha).astype(np.float32))

    def prepare_batch(images):
        images = images[..., tf.newaxis] * 2 - 1
        n = tf.shape(images)[0]
        steps = tf.random.uniform([n], minval=1, maxval=DIFFUSION_STEPS, dtype=tf.int32)
        a = tf.reshape(tf.gather(alpha_cumprod, steps), [n, 1, 1, 1])
        noise = tf.random.normal(tf.shape(images))
        return {"X_noisy": a ** 0.5 * images + (1 - a) ** 0.5 * noise, "time": steps}, noise

    return tf.data.Dataset.from_tensor_slices(x).shuffle(10_000).batch(batch).map(prepare_batch).prefetch(1)


def time_diffusion(x, steps, warmup):
    """Lesson 09's training as the book runs it (`model.fit` on `prepare_dataset`), with Adam as
    the course and the PyTorch reference use (the book's Nadam has no burn counterpart)."""
    model = diffusion_model()
    model.compile(loss=keras.losses.Huber(), optimizer=keras.optimizers.Adam())
    model.fit(diffusion_dataset(x[: warmup * 32], 32), epochs=1, verbose=0)
    data = diffusion_dataset(x[: steps * 32], 32)
    print(f"{LABEL} diffusion timing", flush=True)
    start = time.perf_counter()
    model.fit(data, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    print(f"{LABEL} diffusion batch=32 samples_per_second={steps * 32 / seconds:.1f}", flush=True)


def time_diffusion_sample(x, steps, warmup):
    """One sampling step: the U-Net on batches of 256 noisy images, in inference mode."""
    model = diffusion_model()
    call = tf.function(lambda images, t: model({"X_noisy": images, "time": t}, training=False))
    batches = [tf.constant(x[i * 256:(i + 1) * 256, :, :, np.newaxis] * 2 - 1) for i in range(steps)]
    t = tf.fill([256], 2000)
    for b in batches[:warmup]:
        call(b, t)
    print(f"{LABEL} diffusion_sample timing", flush=True)
    start = time.perf_counter()
    for b in batches:
        call(b, t).numpy()
    seconds = time.perf_counter() - start
    print(f"{LABEL} diffusion_sample batch=256 samples_per_second={steps * 256 / seconds:.1f}", flush=True)


def time_fit(name, build, x, batch, steps, warmup):
    model = build()
    model.fit(x[: warmup * batch], x[: warmup * batch], batch_size=batch, epochs=1, verbose=0)
    data = x[: steps * batch]
    # The benchmark notes the machine's CPU times at this line and at the result's.
    print(f"{LABEL} {name} timing", flush=True)
    start = time.perf_counter()
    model.fit(data, data, batch_size=batch, epochs=1, verbose=0, shuffle=True)
    seconds = time.perf_counter() - start
    print(f"{LABEL} {name} batch={batch} samples_per_second={len(data) / seconds:.1f}", flush=True)


def gan_models(name):
    if name == "dense_gan":
        codings = 30
        generator = keras.models.Sequential([
            keras.layers.Dense(100, activation="selu", input_shape=[codings]),
            keras.layers.Dense(150, activation="selu"),
            keras.layers.Dense(28 * 28, activation="sigmoid"),
            keras.layers.Reshape([28, 28]),
        ])
        discriminator = keras.models.Sequential([
            keras.layers.Flatten(input_shape=[28, 28]),
            keras.layers.Dense(150, activation="selu"),
            keras.layers.Dense(100, activation="selu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ])
    else:
        codings = 100
        generator = keras.models.Sequential([
            keras.layers.Dense(7 * 7 * 128, input_shape=[codings]),
            keras.layers.Reshape([7, 7, 128]),
            keras.layers.BatchNormalization(),
            keras.layers.Conv2DTranspose(64, kernel_size=5, strides=2, padding="same", activation="selu"),
            keras.layers.BatchNormalization(),
            keras.layers.Conv2DTranspose(1, kernel_size=5, strides=2, padding="same", activation="tanh"),
            keras.layers.Reshape([28, 28]),
        ])
        discriminator = keras.models.Sequential([
            keras.layers.Reshape([28, 28, 1], input_shape=[28, 28]),
            keras.layers.Conv2D(64, kernel_size=5, strides=2, padding="same", activation=keras.layers.LeakyReLU(0.2)),
            keras.layers.Dropout(0.4),
            keras.layers.Conv2D(128, kernel_size=5, strides=2, padding="same", activation=keras.layers.LeakyReLU(0.2)),
            keras.layers.Dropout(0.4),
            keras.layers.Flatten(),
            keras.layers.Dense(1, activation="sigmoid"),
        ])
    gan = keras.models.Sequential([generator, discriminator])
    discriminator.compile(loss="binary_crossentropy", optimizer="rmsprop")
    discriminator.trainable = False
    gan.compile(loss="binary_crossentropy", optimizer="rmsprop")
    return generator, discriminator, gan, codings


def time_gan(name, x, steps, warmup):
    """The book's `train_gan`, iteration by iteration."""
    generator, discriminator, gan, codings = gan_models(name)
    batch = 32
    y1 = tf.constant([[0.0]] * batch + [[1.0]] * batch)
    y2 = tf.constant([[1.0]] * batch)

    def iteration(real):
        noise = tf.random.normal(shape=[batch, codings])
        fake = generator(noise)
        discriminator.trainable = True
        discriminator.train_on_batch(tf.concat([fake, real], axis=0), y1)
        noise = tf.random.normal(shape=[batch, codings])
        discriminator.trainable = False
        gan.train_on_batch(noise, y2)

    for i in range(warmup):
        iteration(x[i * batch:(i + 1) * batch])
    order = np.random.permutation(len(x))
    print(f"{LABEL} {name} timing", flush=True)
    start = time.perf_counter()
    for i in range(steps):
        iteration(x[order[i * batch:(i + 1) * batch]])
    seconds = time.perf_counter() - start
    print(f"{LABEL} {name} batch={batch} samples_per_second={steps * batch / seconds:.1f}", flush=True)


def main():
    tf.random.set_seed(42)
    x = load_images()
    print(f"{LABEL} version={tf.__version__} keras={keras.__version__} threads={tf.config.threading.get_intra_op_parallelism_threads()}", flush=True)
    runs = [
        ("linear_ae", lambda: time_fit("linear_ae", linear_ae, toy_3d_data(STEPS * 32), 32, STEPS, WARMUP)),
        ("stacked_ae", lambda: time_fit("stacked_ae", stacked_ae, x, 32, STEPS, WARMUP)),
        ("conv_ae", lambda: time_fit("conv_ae", conv_ae, x, 32, max(STEPS // 5, 10), WARMUP)),
        ("denoising_ae", lambda: time_fit("denoising_ae", denoising_ae, x, 32, STEPS, WARMUP)),
        ("vae", lambda: time_fit("vae", vae, x, 128, min(STEPS, 429), WARMUP)),
        ("dense_gan", lambda: time_gan("dense_gan", x, max(STEPS // 5, 10), 5)),
        ("dcgan", lambda: time_gan("dcgan", x * 2 - 1, max(STEPS // 20, 10), 2)),
        ("diffusion", lambda: time_diffusion(x, max(STEPS // 20, 10), 2)),
        ("diffusion_sample", lambda: time_diffusion_sample(x, max(STEPS // 100, 10), 2)),
    ]
    for name, run in runs:
        if not ONLY or name in ONLY:
            run()


if __name__ == "__main__":
    main()
