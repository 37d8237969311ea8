//! How the pipeline's programs ask the allocator to give memory back.
//!
//! A month is a handful of column buffers of 5–11 MB each, made and dropped step after step. glibc's
//! `malloc` serves blocks that large with `mmap` and returns them to the system on `free` — but each
//! time it frees one, it raises the size it maps from (up to 32 MiB), so the next months' columns
//! come from the heap, and what they leave behind when freed stays in the process. Measured on
//! `train_flow` with two 1.37M-row months: 205–270 MB peak RSS with the moving threshold, 170–184 MB
//! with a fixed one, at the same speed.

/// The size from which blocks are mapped on their own (and unmapped when freed).
pub const MMAP_THRESHOLD: usize = 4 << 20;

/// Fixes glibc's mmap threshold at [`MMAP_THRESHOLD`], so column-sized buffers go back to the system
/// as soon as they are dropped. Call it first thing in `main`; it changes the whole process's
/// allocator and does nothing on other platforms or allocators. Returns whether it was applied.
///
/// ```
/// let applied = mlpipeline::memory::return_large_buffers();
/// assert_eq!(applied, cfg!(all(target_os = "linux", target_env = "gnu")));
/// ```
pub fn return_large_buffers() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only adjusts a glibc allocator parameter; it is safe to call at any
        // time, from any thread.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
