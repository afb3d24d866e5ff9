"""The course's models in PyTorch (CPU, as many threads as cores), timed the way
`cargo bench --bench train_speed` times the course's: the same Fashion-MNIST images, the same
architecture with Keras's initialisation (Glorot uniform, zero biases), the same optimizer and
loop, batches of shuffled images, a warm-up first, validation excluded.

Usage: torch_reference.py STEPS WARMUP [MODEL ...]
Prints one line per model: `torch <name> batch=<b> samples_per_second=<s>`, after a line
`torch <name> timing` just before its clock starts.
"""
import gzip
import os
import sys
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

STEPS, WARMUP = int(sys.argv[1]), int(sys.argv[2])
ONLY = set(sys.argv[3:])
DATA = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
torch.set_num_threads(os.cpu_count() or 1)
torch.manual_seed(42)


def load_images():
    with gzip.open(os.path.join(DATA, "train-images-idx3-ubyte.gz")) as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    return torch.from_numpy((raw.reshape(-1, 784) / 255.0).astype(np.float32))


def keras_init(module):
    """Keras's Dense/Conv initialisation: Glorot uniform weights, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def rmsprop(params):
    # Keras's RMSprop defaults: rho 0.9, epsilon 1e-7.
    return torch.optim.RMSprop(params, lr=0.001, alpha=0.9, eps=1e-7)


def dense(*sizes, last=None):
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i + 2 < len(sizes):
            layers.append(nn.SELU())
    if last is not None:
        layers.append(last)
    return nn.Sequential(*layers)


def toy_3d_data(m):
    rng = np.random.default_rng(4)
    angles = rng.random(m) * 3 * np.pi / 2 - 0.5
    x = np.empty((m, 3))
    x[:, 0] = np.cos(angles) + np.sin(angles) / 2 + 0.1 * rng.standard_normal(m) / 2
    x[:, 1] = np.sin(angles) * 0.7 + 0.1 * rng.standard_normal(m) / 2
    x[:, 2] = x[:, 0] * 0.1 + x[:, 1] * 0.3 + 0.1 * rng.standard_normal(m)
    return torch.from_numpy((x - x.mean(axis=0)).astype(np.float32))


class AeTrainer:
    """An autoencoder trained on batches of shuffled images; `loss` takes (model, batch)."""

    def __init__(self, model, optimizer, loss):
        self.model, self.optimizer, self.loss = model, optimizer, loss

    def step(self, x):
        self.optimizer.zero_grad(set_to_none=True)
        self.loss(self.model, x).backward()
        self.optimizer.step()


def bce_logits(model, x):
    return F.binary_cross_entropy_with_logits(model(x), x)


class ConvAe(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.SELU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.SELU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.SELU(), nn.MaxPool2d(2),
        )
        # Keras's valid 3 -> 7, then same 7 -> 14 -> 28 (output_padding makes the even sides).
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 3, stride=2), nn.SELU(),
            nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.SELU(),
            nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1),
        )

    def forward(self, x):
        return self.decoder(self.encoder(x.view(-1, 1, 28, 28))).view(-1, 784)


class Vae(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, 150), nn.SELU(), nn.Linear(150, 100), nn.SELU())
        self.mean, self.log_var = nn.Linear(100, 10), nn.Linear(100, 10)
        self.decoder = dense(10, 100, 150, 784)

    def loss(self, x):
        h = self.encoder(x)
        mean, log_var = self.mean(h), self.log_var(h)
        z = torch.randn_like(mean) * torch.exp(log_var / 2) + mean
        latent = -0.5 * torch.sum(1 + log_var - torch.exp(log_var) - mean ** 2, dim=-1)
        return F.binary_cross_entropy_with_logits(self.decoder(z), x) + latent.mean() / 784.0


class DcganGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(100, 7 * 7 * 128)
        # Keras's BatchNormalization: momentum 0.99 (PyTorch's 0.01), epsilon 0.001.
        self.body = nn.Sequential(
            nn.BatchNorm2d(128, momentum=0.01, eps=1e-3),
            nn.ConvTranspose2d(128, 64, 5, stride=2, padding=2, output_padding=1), nn.SELU(),
            nn.BatchNorm2d(64, momentum=0.01, eps=1e-3),
            nn.ConvTranspose2d(64, 1, 5, stride=2, padding=2, output_padding=1), nn.Tanh(),
        )

    def forward(self, z):
        return self.body(self.dense(z).view(-1, 128, 7, 7)).view(-1, 784)


class DcganDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 64, 5, stride=2, padding=2), nn.LeakyReLU(0.2), nn.Dropout(0.4),
            nn.Conv2d(64, 128, 5, stride=2, padding=2), nn.LeakyReLU(0.2), nn.Dropout(0.4),
            nn.Flatten(), nn.Linear(7 * 7 * 128, 1),
        )

    def forward(self, x):
        return self.body(x.view(-1, 1, 28, 28))


class GanTrainer:
    """The slide's two-phase loop; one step is one iteration (a batch of real images)."""

    def __init__(self, generator, discriminator, codings):
        self.g, self.d, self.codings = generator, discriminator, codings
        self.d_opt, self.g_opt = rmsprop(self.d.parameters()), rmsprop(self.g.parameters())

    def step(self, real):
        n = real.shape[0]
        # Phase 1: the discriminator on fakes (0) and real images (1); the generator predicts.
        self.g.eval()
        with torch.no_grad():
            fake = self.g(torch.randn(n, self.codings))
        self.g.train()
        x = torch.cat([fake, real])
        y = torch.cat([torch.zeros(n, 1), torch.ones(n, 1)])
        self.d_opt.zero_grad(set_to_none=True)
        F.binary_cross_entropy_with_logits(self.d(x), y).backward()
        self.d_opt.step()
        # Phase 2: the generator through the frozen discriminator, every label 1.
        for p in self.d.parameters():
            p.requires_grad_(False)
        self.g_opt.zero_grad(set_to_none=True)
        F.binary_cross_entropy_with_logits(self.d(self.g(torch.randn(n, self.codings))), torch.ones(n, 1)).backward()
        self.g_opt.step()
        for p in self.d.parameters():
            p.requires_grad_(True)


class SeparableConv(nn.Module):
    """Keras's SeparableConv2D(filters, 3, padding="same"): depthwise 3x3 (no bias), pointwise 1x1."""

    def __init__(self, channels, filters):
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.pointwise = nn.Conv2d(channels, filters, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


def keras_bn(channels):
    # Keras's BatchNormalization defaults: momentum 0.99 (PyTorch's 0.01), epsilon 0.001.
    return nn.BatchNorm2d(channels, momentum=0.01, eps=1e-3)


class DiffusionUnet(nn.Module):
    """The book's U-Net (handson-ml3, chapter 17, `build_diffusion_model`), as lesson 09 builds it."""

    def __init__(self, steps=4000, embed=64, w=16):
        super().__init__()
        p, i = np.meshgrid(np.arange(steps + 1), 2 * np.arange(embed // 2))
        angles = (p / 10_000 ** (i / embed)).T
        table = np.empty((steps + 1, embed), dtype=np.float32)
        table[:, 0::2], table[:, 1::2] = np.sin(angles), np.cos(angles)
        self.register_buffer("encoding", torch.from_numpy(table))
        self.stem, self.stem_bn, self.stem_time = nn.Conv2d(1, w, 3), keras_bn(w), nn.Linear(embed, w)
        self.down = nn.ModuleList()
        c = w
        for dim in (2 * w, 4 * w, 8 * w):
            self.down.append(nn.ModuleDict({
                "conv1": SeparableConv(c, dim), "bn1": keras_bn(dim), "conv2": SeparableConv(dim, dim), "bn2": keras_bn(dim),
                "skip": nn.Conv2d(c, dim, 1, stride=2), "time": nn.Linear(embed, dim)}))
            c = dim
        self.up = nn.ModuleList()
        for dim, crossing in ((4 * w, 8 * w), (2 * w, 4 * w), (w, 2 * w)):
            self.up.append(nn.ModuleDict({
                "conv1": nn.ConvTranspose2d(c, dim, 3, padding=1), "bn1": keras_bn(dim),
                "conv2": nn.ConvTranspose2d(dim, dim, 3, padding=1), "bn2": keras_bn(dim),
                "skip": nn.Conv2d(c, dim, 1), "time": nn.Linear(embed, dim)}))
            c = dim + crossing
        self.head = nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, x, t):
        time = self.encoding[t]
        add_time = lambda z, layer: z + layer(time)[:, :, None, None]
        z = F.relu(self.stem_bn(self.stem(F.pad(x, (3, 3, 3, 3)))))
        z = add_time(z, self.stem_time)
        skip, crossing = z, []
        for b in self.down:
            z = b["bn1"](b["conv1"](F.relu(z)))
            z = b["bn2"](b["conv2"](F.relu(z)))
            crossing.append(z)
            # TensorFlow's "same" max pooling pads the end of each side only.
            z = F.max_pool2d(F.pad(z, (0, 1, 0, 1), value=float("-inf")), 3, stride=2) + b["skip"](skip)
            z = add_time(z, b["time"])
            skip = z
        for b in self.up:
            z = b["bn1"](b["conv1"](F.relu(z)))
            z = b["bn2"](b["conv2"](F.relu(z)))
            z = F.interpolate(z, scale_factor=2, mode="nearest") + b["skip"](F.interpolate(skip, scale_factor=2, mode="nearest"))
            z = torch.cat([add_time(z, b["time"]), crossing.pop()], dim=1)
            skip = z
        return self.head(z)[:, :, 2:-2, 2:-2]


class DiffusionTrainer:
    """The book's training step: fresh steps and noise for every batch, the Huber loss, Adam."""

    def __init__(self, model, steps=4000, s=0.008):
        self.model = model
        t = np.arange(steps + 1)
        f = np.cos((t / steps + s) / (1 + s) * np.pi / 2) ** 2
        alpha = np.append(1, np.clip(f[1:] / f[:-1], 1 - 0.999, 1)).astype(np.float32)
        self.alpha_bar = torch.from_numpy(np.cumprod(alpha))
        self.steps = steps
        self.optimizer = torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7)

    def step(self, x):
        x = x.view(-1, 1, 28, 28) * 2 - 1
        t = torch.randint(1, self.steps + 1, (x.shape[0],))
        a = self.alpha_bar[t].view(-1, 1, 1, 1)
        noise = torch.randn_like(x)
        self.optimizer.zero_grad(set_to_none=True)
        F.huber_loss(self.model(a.sqrt() * x + (1 - a).sqrt() * noise, t), noise).backward()
        self.optimizer.step()


class DiffusionSampler:
    """One network call of sampling: the U-Net on a batch of noisy images, without gradients."""

    def __init__(self, model):
        self.model = model.eval()

    @torch.no_grad()
    def step(self, x):
        self.model(x.view(-1, 1, 28, 28) * 2 - 1, torch.full((x.shape[0],), 2000))


def models(images):
    def sgd(model, lr):
        return torch.optim.SGD(model.parameters(), lr=lr)

    def stacked():
        m = keras_init(dense(784, 100, 30, 100, 784))
        return AeTrainer(m, sgd(m, 1.5), bce_logits), 32, images

    def linear():
        m = keras_init(nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 3)))
        return AeTrainer(m, sgd(m, 0.1), lambda model, x: F.mse_loss(model(x), x)), 32, toy_3d_data(STEPS * 32)

    def conv():
        m = keras_init(ConvAe())
        return AeTrainer(m, sgd(m, 1.0), bce_logits), 32, images

    def denoising():
        m = keras_init(dense(784, 100, 30, 100, 784))
        noisy = lambda model, x: F.binary_cross_entropy_with_logits(model(x + 0.2 * torch.randn_like(x)), x)
        return AeTrainer(m, sgd(m, 1.0), noisy), 32, images

    def vae():
        m = keras_init(Vae())
        return AeTrainer(m, rmsprop(m.parameters()), lambda model, x: model.loss(x)), 128, images

    def gan():
        g, d = keras_init(dense(30, 100, 150, 784, last=nn.Sigmoid())), keras_init(dense(784, 150, 100, 1))
        return GanTrainer(g, d, 30), 32, images

    def dcgan():
        g, d = keras_init(DcganGenerator()), keras_init(DcganDiscriminator())
        return GanTrainer(g, d, 100), 32, images * 2 - 1

    def diffusion():
        return DiffusionTrainer(keras_init(DiffusionUnet())), 32, images

    def diffusion_sample():
        return DiffusionSampler(keras_init(DiffusionUnet())), 256, images

    return {"linear_ae": linear, "stacked_ae": stacked, "conv_ae": conv, "denoising_ae": denoising,
            "vae": vae, "dense_gan": gan, "dcgan": dcgan, "diffusion": diffusion, "diffusion_sample": diffusion_sample}


def time_model(name, build, steps, warmup):
    trainer, batch, data = build()
    order = torch.randperm(data.shape[0])
    for i in range(warmup):
        trainer.step(data[order[(i * batch) % (data.shape[0] - batch):][:batch]])
    # The benchmark notes the machine's CPU times at this line and at the result's.
    print(f"torch {name} timing", flush=True)
    start = time.perf_counter()
    done = 0
    while done < steps:
        # An epoch's worth of shuffled batches, as a user's loop runs them.
        order = torch.randperm(data.shape[0])
        for b in range(0, data.shape[0] - batch + 1, batch):
            trainer.step(data[order[b:b + batch]])
            done += 1
            if done == steps:
                break
    seconds = time.perf_counter() - start
    print(f"torch {name} batch={batch} samples_per_second={steps * batch / seconds:.1f}", flush=True)


def main():
    images = load_images()[:55_000]
    print(f"torch version={torch.__version__} threads={torch.get_num_threads()}", flush=True)
    # The convolutional models are timed on fewer steps (each is tens of milliseconds).
    slow = {"conv_ae": 5, "dcgan": 20, "diffusion": 20, "diffusion_sample": 100}
    for name, build in models(images).items():
        if ONLY and name not in ONLY:
            continue
        divisor = slow.get(name, 1)
        time_model(name, build, max(STEPS // divisor, 10), max(WARMUP // divisor, 2))


if __name__ == "__main__":
    main()
