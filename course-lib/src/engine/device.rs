//! The one place that chooses the compute device.
//!
//! The default is burn's pure-Rust `flex` CPU backend: it needs nothing but the Rust compiler and
//! is the fastest of burn's CPU backends for the course's small dense models. The environment
//! variable `COURSE_DEVICE` picks another backend compiled in with the cargo feature of the same
//! name: `ndarray`, `cpu` (CubeCL CPU), `cuda` or `wgpu`.

use crate::error::{CourseError, Result};
use burn::tensor::Device;

/// The environment variable that names the backend.
pub const DEVICE_ENV: &str = "COURSE_DEVICE";

/// The backends this build of the library can use, by the names `COURSE_DEVICE` accepts.
pub fn available_backends() -> Vec<&'static str> {
    let mut names = vec!["flex"];
    if cfg!(feature = "ndarray") {
        names.push("ndarray");
    }
    if cfg!(feature = "cpu") {
        names.push("cpu");
    }
    if cfg!(feature = "cuda") {
        names.push("cuda");
    }
    if cfg!(feature = "wgpu") {
        names.push("wgpu");
    }
    names
}

/// The device named `name` (`flex`, `ndarray`, `cpu`, `cuda`, `wgpu`), if this build has it.
pub fn device_named(name: &str) -> Result<Device> {
    match name.trim().to_ascii_lowercase().as_str() {
        "" | "flex" => Ok(Device::flex()),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)] // burn keeps ndarray for comparison; the course benchmarks it
        "ndarray" => Ok(Device::ndarray()),
        #[cfg(feature = "cpu")]
        "cpu" => Ok(Device::cpu()),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0)),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(Default::default())),
        other => Err(CourseError::Device {
            problem: format!(
                "the backend `{other}` is not compiled into course-lib; this build has: {}. \
                 Unset {DEVICE_ENV}, or rebuild course-lib with `--features {other}`.",
                available_backends().join(", ")
            ),
        }),
    }
}

/// The device chosen by `COURSE_DEVICE` (default `flex`), for inference and data.
///
/// An unknown or not-compiled backend name is reported on stderr and the default is used, so that
/// a typo in an environment variable never stops a notebook.
pub fn device() -> Device {
    let name = std::env::var(DEVICE_ENV).unwrap_or_default();
    device_named(&name).unwrap_or_else(|err| {
        eprintln!("warning: {err} Using flex.");
        Device::flex()
    })
}

/// The same device with automatic differentiation, for training.
pub fn training_device() -> Device {
    device().autodiff()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_backend_names_the_choices() {
        let err = device_named("tpu").unwrap_err().to_string();
        assert!(err.contains("`tpu`") && err.contains("flex"), "{err}");
    }

    #[test]
    fn default_is_flex() {
        assert_eq!(device_named("").unwrap(), Device::flex());
        assert_eq!(device_named(" Flex ").unwrap(), Device::flex());
    }
}
