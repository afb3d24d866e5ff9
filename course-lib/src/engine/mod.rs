//! The engine: everything a model needs to exist and learn, and nothing about Fashion-MNIST or a
//! lesson. From the bottom up: configurations, text tables and histories, errors, devices and
//! the course's mode, the kernel's panic hook and the allocator's hold on freed memory while a
//! loop trains; matrices, seeded noise and linear algebra; activations, the host kernels
//! and the layers built on them; losses, the model trait, optimizers, the average of a model's weights, checkpoints, the training
//! step and `fit`; `Sequential` and the generic `Autoencoder`. Each module uses only those declared before it here
//! (`tests::layers_only_use_those_below` in lib.rs checks it).

pub mod config;
pub mod summary;
pub mod history;
pub mod error;
pub mod device;
pub mod mode;
pub mod kernel;
pub(crate) mod memory;
pub mod matrix;
pub mod rng;
pub mod linalg;
pub mod activation;
pub(crate) mod kernels;
pub(crate) mod fused;
pub mod layers;
pub mod loss;
pub mod model;
pub mod optim;
pub(crate) mod average;
pub mod checkpoint;
pub mod train;
pub mod sequential;
pub mod autoencoder;
