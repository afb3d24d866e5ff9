//! The course's integration tests: one binary, one module per topic. Snapshots (insta) pin what
//! the library shows a student; a changed snapshot is reviewed like code.

// Helpers shared by the lesson tests.
mod common;
// The training engine: checkpoints, resuming a killed run.
mod engine;
// Fashion-MNIST loading on the committed sample.
mod data;
// A catalogue of bad inputs: each refused with a message that names the problem, and nothing
// changed.
mod bad_inputs;
// Mutated IDX files and checkpoints: an answer or an error, never a panic.
mod fuzz;
// The trained models the course ships.
mod pretrained;
// The command line of `./course lab`.
mod launch;
// Figures, byte for byte.
mod figures;
// Lesson 01: linear autoencoder = PCA.
mod lesson01;
// Lesson 02: stacked autoencoders.
mod lesson02;
// Lesson 03: t-SNE of the codings.
mod lesson03;
// Lesson 04: the convolutional autoencoder.
mod lesson04;
// Lesson 05: denoising and sparse autoencoders.
mod lesson05;
// Lesson 06: the variational autoencoder.
mod lesson06;
// Lesson 07: GAN and DCGAN.
mod lesson07;
// Lesson 08: mode collapse, measured.
mod lesson08;
// Lesson 09: diffusion models.
mod lesson09;
