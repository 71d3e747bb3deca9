//! A global allocator that counts the allocations (`alloc`, `alloc_zeroed`, `realloc`) made by
//! the current thread while counting is switched on: [`count_allocations`].
//!
//! Owned by the allocation test (`tests/alloc/`); `bench/compare` includes this file with
//! `#[path]` for its allocations-per-event figures, so both measure the same way. Counting per
//! thread keeps other threads (the test harness's, a benchmark's helpers) out of the figure.
//!
//! Install it in a binary with
//! `#[global_allocator] static GLOBAL: CountingAllocator = CountingAllocator;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Forwards to [`System`], counting the allocations of threads that switched counting on.
pub struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // `const` initialization: reading it never allocates (important inside the allocator).
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note_allocation() {
    // `try_with`: a thread being torn down may still allocate after its locals are gone.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting has
// no effect on the returned memory.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f` once on this thread and returns its result and the number of allocations
/// (including reallocations) this thread made meanwhile.
pub fn count_allocations<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let was = COUNTING.replace(true);
    let out = f();
    COUNTING.set(was);
    (out, ALLOCATIONS.load(Ordering::Relaxed) - before)
}

/// Allocations counted so far, by every counting thread: within one counting thread the
/// difference of two readings attributes its allocations to phases.
#[allow(dead_code)] // bench/compare's phases use it; the test binary does not
pub fn allocations_so_far() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}
