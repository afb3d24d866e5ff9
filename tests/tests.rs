//! The course's integration tests: one binary, one module per topic. Snapshots (insta) pin what
//! the library shows a student; a changed snapshot is reviewed like code.

// Fashion-MNIST loading on the committed sample.
mod data;
// Figures, byte for byte.
mod figures;
// Lesson 01: linear autoencoder = PCA.
mod lesson01;
// Lesson 02: stacked autoencoders.
mod lesson02;
// Lesson 03: t-SNE of the codings.
mod lesson03;
