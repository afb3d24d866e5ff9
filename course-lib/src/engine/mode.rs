//! The notebooks' one switch between a quick run, a class run and the slides' full run.

use crate::error::{CourseError, Result};
use std::fmt;
use std::str::FromStr;

/// The environment variable that sets the mode (the notebook test sets it to `quick`).
pub const MODE_ENV: &str = "COURSE_MODE";

/// How much a notebook trains.
///
/// Every size a notebook uses comes from [`Mode::pick`], so one switch in the first cell changes
/// the whole notebook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Seconds per notebook on a small subset: what the test suite runs.
    Quick,
    /// A couple of minutes per notebook on a laptop CPU: the default, for a class.
    Class,
    /// The slides' epochs and data: reproduces the book's figures.
    Full,
}

impl Mode {
    /// The mode named by `COURSE_MODE`, or `Class` when it is unset.
    ///
    /// An unknown value is reported on stderr and `Class` is used.
    pub fn from_env() -> Mode {
        match std::env::var(MODE_ENV) {
            Ok(value) => value.parse().unwrap_or_else(|err| {
                eprintln!("warning: {err} Using class mode.");
                Mode::Class
            }),
            Err(_) => Mode::Class,
        }
    }

    /// One of three values, by mode.
    pub fn pick<T>(self, quick: T, class: T, full: T) -> T {
        match self {
            Mode::Quick => quick,
            Mode::Class => class,
            Mode::Full => full,
        }
    }
}

impl FromStr for Mode {
    type Err = CourseError;

    fn from_str(s: &str) -> Result<Mode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "quick" => Ok(Mode::Quick),
            "class" | "" => Ok(Mode::Class),
            "full" => Ok(Mode::Full),
            other => Err(CourseError::bad_config(
                MODE_ENV,
                format!("`{other}` is not a mode; use quick, class or full."),
            )),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.pick("quick", "class", "full"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_modes_and_refuses_others() {
        assert_eq!("Quick".parse::<Mode>().unwrap(), Mode::Quick);
        assert_eq!("full".parse::<Mode>().unwrap(), Mode::Full);
        let err = "fast".parse::<Mode>().unwrap_err().to_string();
        assert!(err.contains("quick, class or full"), "{err}");
    }
}
