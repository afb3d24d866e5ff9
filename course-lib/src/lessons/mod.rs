//! One module per lesson, named after its slide, numbered like its notebook: 00 `intro`, 01
//! `linear_ae`, 02 `stacked_ae`, 03 `embedding`, 04 `conv_ae`, 05 `denoising_ae`, 06 `vae`,
//! 07 `gan`, 08 `mode_collapse`, 09 `diffusion`; `pretrained` loads the trained models they ship.

pub mod intro;
pub mod linear_ae;
pub mod stacked_ae;
pub mod embedding;
pub mod conv_ae;
pub mod denoising_ae;
pub mod vae;
pub mod gan;
pub mod mode_collapse;
pub mod diffusion;
pub mod pretrained;
