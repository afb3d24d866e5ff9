//! The figures: the slides' plots and the networks' diagrams, drawn from the engine's and the
//! data's values.

pub mod plot;
pub mod diagram;
