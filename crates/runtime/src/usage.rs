//! What a request's guests used, for metrics: the CPU time of the threads that polled them
//! and their instances' peak linear memory; and the process's own CPU time and page size.
//!
//! A server that wants the figures puts an `Arc<GuestUsage>` in the request's extensions;
//! every guest that serves the request (the component, and `wasm` middleware steps in front of
//! it) adds to it. Without one, nothing is measured and nothing costs. One made with
//! [`GuestUsage::memory_only`] measures the peak memory and not the CPU time, whose two clock
//! reads per poll are system calls (docs/performance.md, "What metrics cost").
//!
//! CPU time is the calling thread's (`CLOCK_THREAD_CPUTIME_ID`) read before and after each
//! poll of the guest's call: instantiation, the guest's code and the host functions it calls,
//! not the time it waits. Not measured: a WASI 0.3 instance shared by several requests at once
//! (`reuse.max_concurrent` > 1) is polled by its own worker, not per request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::invoke::GuestTask;

/// The CPU time and peak memory of the guests that served one request.
#[derive(Debug, Default)]
pub struct GuestUsage {
    cpu_nanos: AtomicU64,
    peak_memory: AtomicU64,
    /// The CPU time is not measured.
    memory_only: bool,
}

impl GuestUsage {
    /// A record of the peak memory only: the guests' polls are not timed, and
    /// [`GuestUsage::cpu`] stays zero.
    pub fn memory_only() -> Self {
        Self {
            memory_only: true,
            ..Self::default()
        }
    }

    /// Whether the guests' CPU time is measured (not a [`GuestUsage::memory_only`] record).
    pub fn measures_cpu(&self) -> bool {
        !self.memory_only
    }

    /// CPU time spent polling the guests so far.
    pub fn cpu(&self) -> Duration {
        Duration::from_nanos(self.cpu_nanos.load(Ordering::Relaxed))
    }

    /// The largest linear memory (all memories of one instance together) any of the guests
    /// had, in bytes.
    pub fn peak_memory(&self) -> u64 {
        self.peak_memory.load(Ordering::Relaxed)
    }

    pub(crate) fn note_memory(&self, bytes: usize) {
        self.peak_memory.fetch_max(bytes as u64, Ordering::Relaxed);
    }

    fn add_cpu(&self, nanos: u64) {
        self.cpu_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// A guest's call that adds the CPU time of each of its polls to `usage`.
pub(crate) fn timed(task: GuestTask, usage: Arc<GuestUsage>) -> GuestTask {
    Box::pin(Timed { task, usage })
}

struct Timed {
    task: GuestTask,
    usage: Arc<GuestUsage>,
}

impl Future for Timed {
    type Output = <GuestTask as Future>::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let started = thread_cpu();
        let poll = self.task.as_mut().poll(cx);
        self.usage
            .add_cpu(thread_cpu().saturating_sub(started).as_nanos() as u64);
        poll
    }
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to write; both clocks exist on every
    // Linux Tessera runs on, and a failure leaves `now` at zero.
    #[allow(unsafe_code)]
    unsafe {
        libc::clock_gettime(id, &mut now);
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// The calling thread's CPU time.
pub fn thread_cpu() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// The process's CPU time, user and system, all threads.
pub fn process_cpu() -> Duration {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// The size of a memory page, for `/proc/self/statm`.
pub fn page_size() -> u64 {
    // SAFETY: sysconf reads a constant; -1 (not known) falls back to 4 KiB.
    #[allow(unsafe_code)]
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_timed_call_counts_the_cpu_it_burns_and_not_the_time_it_waits() {
        let usage = Arc::new(GuestUsage::default());
        let task: GuestTask = Box::pin(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let until = thread_cpu() + Duration::from_millis(30);
            while thread_cpu() < until {
                std::hint::black_box(0);
            }
            Ok(())
        });
        timed(task, usage.clone()).await.expect("the task");
        let cpu = usage.cpu();
        assert!(
            cpu >= Duration::from_millis(30) && cpu < Duration::from_millis(45),
            "{cpu:?}"
        );
    }

    #[tokio::test]
    async fn a_memory_only_record_leaves_the_call_untimed() {
        let burn = || -> GuestTask {
            Box::pin(async {
                let until = thread_cpu() + Duration::from_millis(5);
                while thread_cpu() < until {
                    std::hint::black_box(0);
                }
                Ok(())
            })
        };
        let (timed, untimed) = (
            Arc::new(GuestUsage::default()),
            Arc::new(GuestUsage::memory_only()),
        );
        crate::invoke::measured(burn(), Some(timed.clone()))
            .await
            .expect("the task");
        crate::invoke::measured(burn(), Some(untimed.clone()))
            .await
            .expect("the task");
        assert!(timed.measures_cpu() && !untimed.measures_cpu());
        assert!(timed.cpu() >= Duration::from_millis(5), "{:?}", timed.cpu());
        assert_eq!(untimed.cpu(), Duration::ZERO);
    }

    #[test]
    fn the_peak_is_the_largest_noted() {
        let usage = GuestUsage::default();
        usage.note_memory(10);
        usage.note_memory(30);
        usage.note_memory(20);
        assert_eq!(usage.peak_memory(), 30);
    }
}
