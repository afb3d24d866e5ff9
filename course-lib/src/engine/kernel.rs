//! What the course's Rust kernel gets from the library when it loads it: a panic in a cell reads as
//! a message, not as the kernel's backtrace.
//!
//! evcxr runs the cells in a child process started with `RUST_BACKTRACE=1`, so a student's
//! `v[5]` on a one-element vector prints seventeen lines of frames from evcxr's own runtime. The
//! course replaces the panic hook in that process (and only there: the process that evcxr marks
//! with `EVCXR_IS_RUNTIME`) with one that prints the message, where it happened, and the line of
//! the cell that panicked. evcxr catches the panic itself and keeps the notebook's variables, as
//! before. A student who wants the backtrace starts Jupyter with `RUST_BACKTRACE=full`, or calls
//! [`show_backtraces`]`(true)` in a cell.

use std::sync::atomic::{AtomicBool, Ordering};

static BACKTRACES: AtomicBool = AtomicBool::new(false);

/// Turns the kernel's backtraces on panic on (`true`) or off again.
pub fn show_backtraces(on: bool) {
    BACKTRACES.store(on, Ordering::Relaxed);
}

// The library is loaded with the first cell that uses it (a shared library the kernel opens);
// an `.init_array` entry runs when it is, which is the only moment the course gets to act
// before a student's code runs.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static INSTALL_AT_LOAD: extern "C" fn() = install_at_load;

#[cfg(target_os = "linux")]
extern "C" fn install_at_load() {
    if std::env::var_os("EVCXR_IS_RUNTIME").is_some() {
        install_panic_hook();
    }
}

/// Installs the course's panic hook (done at load time in the kernel).
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let wants_backtrace = BACKTRACES.load(Ordering::Relaxed) || std::env::var("RUST_BACKTRACE").is_ok_and(|v| v == "full");
        if wants_backtrace {
            default(info);
            return;
        }
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_owned());
        let place = match info.location() {
            Some(loc) => match cell_line(loc.file(), loc.line()) {
                Some(code) => format!("in this cell, at `{}`", code.trim()),
                None => format!("at {}:{}", loc.file(), loc.line()),
            },
            None => "somewhere without a location".to_owned(),
        };
        eprintln!(
            "panicked {place}:\n{message}\nThe notebook's variables are kept. (For the kernel's backtrace: \
             course_lib::kernel::show_backtraces(true), then run the cell again.)"
        );
    }));
}

/// The source line of a cell that panicked: evcxr compiles the cell in `src/lib.rs` of its build
/// directory (`EVCXR_TMPDIR`), which still holds the cell's code when the panic happens.
fn cell_line(file: &str, line: u32) -> Option<String> {
    if file != "src/lib.rs" {
        return None;
    }
    let dir = std::env::var_os("EVCXR_TMPDIR")?;
    let source = std::fs::read_to_string(std::path::Path::new(&dir).join("src/lib.rs")).ok()?;
    source.lines().nth(line.checked_sub(1)? as usize).map(str::to_owned)
}
