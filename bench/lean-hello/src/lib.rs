//! examples/hello without `std`, to measure what std's imports cost per instance
//! (docs/performance.md, "Do std's imports matter?"). The response is the same byte for byte;
//! the component imports only `wasi:http/types`, `wasi:io/streams` and `wasi:io/error`, where
//! examples/hello also imports what std's start-up and stdio need (`wasi:cli/environment`,
//! `stdin`, `stdout`, `stderr`, `terminal-*`, `exit`, `wasi:io/poll`).
//!
//! Build: `cargo build --release --target wasm32-wasip2 --manifest-path bench/lean-hello/Cargo.toml --target-dir target/wasm`

#![no_std]

extern crate alloc;

use alloc::string::ToString as _;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

const HEAP_SIZE: usize = 64 * 1024;

/// A bump allocator over a static heap that never frees: an instance serves one request and
/// is thrown away. The heap is in the initial memory on purpose: growing the memory per
/// request (a heap from `memory.grow`) made every request 2× slower, in Tessera and in
/// `wasmtime serve` alike.
struct Bump {
    heap: UnsafeCell<[u8; HEAP_SIZE]>,
    used: AtomicUsize,
}

// SAFETY: a component instance runs on one thread; the counter is atomic anyway.
unsafe impl Sync for Bump {}

// SAFETY: every block returned is inside `heap`, aligned as asked, and never handed out twice.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = self.heap.get() as usize;
        let used = self.used.load(Ordering::Relaxed);
        let start = (base + used).next_multiple_of(layout.align()) - base;
        let Some(end) = start
            .checked_add(layout.size())
            .filter(|&end| end <= HEAP_SIZE)
        else {
            return core::ptr::null_mut();
        };
        self.used.store(end, Ordering::Relaxed);
        (base + start) as *mut u8
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static ALLOCATOR: Bump = Bump {
    heap: UnsafeCell::new([0; HEAP_SIZE]),
    used: AtomicUsize::new(0),
};

/// The canonical ABI's allocator, which std would otherwise provide: the host calls it to
/// pass lists and strings into the guest.
///
/// # Safety
/// Called by the host as the canonical ABI specifies.
#[unsafe(no_mangle)]
unsafe extern "C" fn cabi_realloc(
    old: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    // SAFETY: the canonical ABI passes a power-of-two alignment; a null result traps in the host.
    unsafe {
        let new = ALLOCATOR.alloc(Layout::from_size_align_unchecked(new_len, align));
        if !old.is_null() && !new.is_null() {
            core::ptr::copy_nonoverlapping(old, new, old_len.min(new_len));
        }
        new
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

struct Hello;

wasi::http::proxy::export!(Hello);

const GREETING: &[u8] = b"Hello from Tessera!\n";

impl wasi::exports::http::incoming_handler::Guest for Hello {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let headers = Fields::from_list(&[
            ("content-type".into(), b"text/plain; charset=utf-8".to_vec()),
            (
                "content-length".into(),
                GREETING.len().to_string().into_bytes(),
            ),
        ])
        .expect("these headers are valid");
        let response = OutgoingResponse::new(headers);
        let body = response.body().expect("a new response has a body");
        ResponseOutparam::set(response_out, Ok(response));
        let out = body.write().expect("the body is written once");
        // What std's `write_all` does for examples/hello: ask how much fits, then write, so
        // that both components make the same host calls.
        let room = out.check_write().expect("the client is reading");
        assert!(
            room >= GREETING.len() as u64,
            "a new body takes the greeting"
        );
        out.write(GREETING).expect("the client is reading");
        drop(out);
        OutgoingBody::finish(body, None).expect("the body is complete");
    }
}
