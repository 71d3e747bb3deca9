//! Clocks, an allocation counter and medians.

use std::time::Instant;

// The allocation counter of the test suite (owned by `tests/alloc/`), so the figures here and
// the zero-allocation test count the same way.
#[path = "../../../tests/alloc/counting_allocator.rs"]
mod counting_allocator;

pub use counting_allocator::{CountingAllocator, allocations_so_far, count_allocations};

/// CPU time (user + system) consumed by the calling thread, in seconds.
pub fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// User + system CPU time of the whole process so far (getrusage), in seconds.
pub fn process_cpu_seconds() -> f64 {
    // SAFETY: an all-zero `rusage` is a valid value; getrusage only writes to it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a writable rusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage failed");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU and wall time of one run.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub cpu: f64,
    pub wall: f64,
}

/// Times one call of `f`.
pub fn time_once<T>(f: impl FnOnce() -> T) -> (T, Sample) {
    let wall = Instant::now();
    let cpu = thread_cpu_seconds();
    let out = f();
    let cpu = thread_cpu_seconds() - cpu;
    let wall = wall.elapsed().as_secs_f64();
    (out, Sample { cpu, wall })
}

/// Median CPU and median wall time of a set of runs (each median taken on its own).
#[derive(Debug, Clone, Copy)]
pub struct Medians {
    pub cpu: f64,
    pub wall: f64,
}

pub fn medians(samples: &[Sample]) -> Medians {
    assert!(!samples.is_empty());
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        }
    };
    Medians {
        cpu: median(samples.iter().map(|s| s.cpu).collect()),
        wall: median(samples.iter().map(|s| s.wall).collect()),
    }
}
