//! A global allocator that counts the bytes each thread has live, so the fuzz driver can tell how
//! much one decoder call allocated at its peak. A length prefix claiming gigabytes shows up here
//! even when the allocation is never touched (and so never reaches the resident set).
//!
//! The only unsafe code in the workspace: `GlobalAlloc` cannot be implemented without it. Every
//! method forwards to [`System`] unchanged and only adds to thread-local counters.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    // Signed: a block allocated on one thread may be freed on another.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// Counts live bytes per thread; install it with `#[global_allocator]` in a binary.
#[derive(Debug)]
pub struct CountingAlloc;

fn grow(n: usize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get().saturating_add(n as isize);
        l.set(v);
        let _ = PEAK.try_with(|p| {
            if v > p.get() {
                p.set(v);
            }
        });
    });
}

fn shrink(n: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(n as isize)));
}

// SAFETY: every call is forwarded to the system allocator with the caller's layout and pointer;
// the counters are plain thread-locals that never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grow(new_size);
        shrink(layout.size());
        System.realloc(ptr, layout, new_size)
    }
}

/// Start measuring this thread's peak: returns the current live count to pass to [`peak_since`].
pub fn start() -> isize {
    let live = LIVE.try_with(Cell::get).unwrap_or(0);
    let _ = PEAK.try_with(|p| p.set(live));
    live
}

/// The most bytes this thread had live above `base` since [`start`] returned it (0 when the
/// counting allocator is not installed).
pub fn peak_since(base: isize) -> usize {
    let peak = PEAK.try_with(Cell::get).unwrap_or(0);
    usize::try_from(peak.saturating_sub(base)).unwrap_or(0)
}
