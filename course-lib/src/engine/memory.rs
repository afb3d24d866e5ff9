//! Keeping freed memory in the process while a training loop runs, and giving it back after.
//!
//! A training step allocates the same buffers every batch (activations, column matrices,
//! gradients) and frees them all when it ends. glibc's `malloc`, left to itself, serves the large
//! ones with `mmap` and returns them to the system on `free`, or trims the top of its heap when
//! much is free there; the next batch then asks the system again, and the system hands out fresh
//! pages, zeroing each one on its first touch (a page fault per 4 KiB). On lesson 09's U-Net
//! (2026-12-05): 0.19 s per batch of 32 with glibc's defaults, 0.156 s with the two thresholds
//! below raised, and the same bits either way.
//!
//! [`Hold`] raises them for as long as a loop runs (`fit`, a GAN's epochs, lesson 09's fit and
//! sampling, a prediction in batches), so that the heap keeps what a batch freed for the next one,
//! and when the last loop ends it sets glibc's static defaults again and gives the free memory back
//! (`malloc_trim`), so that a kernel that has trained does not keep its peak for the rest of the
//! class. Elsewhere than glibc (macOS, musl) it does nothing.

use std::sync::Mutex;

/// How many loops hold the memory now (tests train in several threads at once).
static HOLDERS: Mutex<usize> = Mutex::new(0);

/// Keeps freed memory in the process until dropped (see the module's text).
#[must_use = "the memory is kept only while the guard lives"]
pub(crate) struct Hold(());

impl Hold {
    /// From now until the guard is dropped, freed memory stays in the process.
    pub(crate) fn new() -> Hold {
        let mut holders = HOLDERS.lock().unwrap_or_else(|e| e.into_inner());
        if *holders == 0 {
            glibc::keep(true);
        }
        *holders += 1;
        Hold(())
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut holders = HOLDERS.lock().unwrap_or_else(|e| e.into_inner());
        *holders -= 1;
        if *holders == 0 {
            glibc::keep(false);
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    /// Above the largest buffer a course model allocates (the U-Net's column matrices are tens of
    /// MB) and below `c_int::MAX`, the most `mallopt` takes. glibc 2.36 (Debian 12) accepts it;
    /// older ones refuse an mmap threshold over 32 MiB, and then the larger buffers are mapped
    /// afresh as before (slower, not wrong).
    const KEEP: libc::c_int = 1 << 30;
    /// glibc's documented defaults for both thresholds (which it then raises on its own; once set
    /// they stay fixed, which is the behaviour before the first large `free`).
    const DEFAULT: libc::c_int = 128 * 1024;

    /// Keeps freed memory (`true`) or returns to the defaults and gives the free memory back.
    pub(super) fn keep(on: bool) {
        let value = if on { KEEP } else { DEFAULT };
        // SAFETY: `mallopt` and `malloc_trim` take integers, no pointers, and change only how
        // glibc's allocator serves later requests; glibc takes its arena locks for both, and
        // `malloc` is initialised before `main` (Rust's runtime has allocated by then), so they
        // are safe to call from any thread at any time. A refused value (return 0) leaves the
        // allocator as it was: slower, never wrong.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, value);
            libc::mallopt(libc::M_TRIM_THRESHOLD, value);
            if !on {
                libc::malloc_trim(0);
            }
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod glibc {
    pub(super) fn keep(_on: bool) {}
}
