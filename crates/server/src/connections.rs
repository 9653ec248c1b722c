//! What the accept loop lets in: at most so many connections in all and from one client IP,
//! and a client that does not say which HTTP version it speaks within the header read
//! timeout is dropped.
//!
//! A connection over a limit is closed as soon as it is accepted (the client sees the close at
//! once rather than waiting in the kernel's backlog), and a warning says so at most every 10 s
//! ([`WarnEvery`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpStream;

use crate::warn_every::WarnEvery;

/// The HTTP/2 connection preface a client with prior knowledge starts with.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Open connections, in all and per client IP, against their limits.
pub(crate) struct Admission {
    max_total: usize,
    /// 0: no limit per IP.
    max_per_ip: usize,
    open: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    refused: AtomicU64,
    warn: WarnEvery,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    Total,
    PerIp,
}

/// An admitted connection; counts as open until dropped.
pub(crate) struct Admitted {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Admission {
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total: max_total.max(1),
            max_per_ip,
            open: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
            warn: WarnEvery::new(),
        })
    }

    /// Counts a connection from `ip` in, or says which limit it is over.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refused> {
        let refused = if self.open.load(Ordering::Relaxed) >= self.max_total {
            Some(Refused::Total)
        } else if self.max_per_ip > 0 {
            let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
            let count = per_ip.entry(ip).or_insert(0);
            if *count >= self.max_per_ip {
                Some(Refused::PerIp)
            } else {
                *count += 1;
                None
            }
        } else {
            None
        };
        if let Some(reason) = refused {
            self.note_refusal(ip, reason);
            return Err(reason);
        }
        // Only the accept loop admits, so the check above and this add do not race.
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(Admitted {
            admission: self.clone(),
            ip,
        })
    }

    fn note_refusal(&self, ip: IpAddr, reason: Refused) {
        let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        if self.warn.due() {
            let (limit, what) = match reason {
                Refused::Total => (self.max_total, "--max-connections"),
                Refused::PerIp => (self.max_per_ip, "--max-connections-per-ip"),
            };
            tracing::warn!(
                "refusing connections over the limit of {limit} ({what}); latest from {ip}; {refused} refused since start"
            );
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.admission.open.fetch_sub(1, Ordering::Relaxed);
        if self.admission.max_per_ip > 0 {
            let mut per_ip = self
                .admission
                .per_ip
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(count) = per_ip.get_mut(&self.ip) {
                *count -= 1;
                if *count == 0 {
                    per_ip.remove(&self.ip);
                }
            }
        }
    }
}

/// Which protocol a cleartext client speaks, from its first bytes (left unread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spoken {
    Http1,
    Http2,
}

/// Waits for a cleartext client's first bytes, for up to `timeout`: HTTP/2 if they are the
/// connection preface, HTTP/1.1 as soon as they cannot be. `None`: the client closed, or said
/// too little in time (a client that connects and waits would otherwise hold the connection
/// for ever: hyper's header read timeout starts once the version is known).
pub(crate) async fn first_bytes(stream: &TcpStream, timeout: Duration) -> Option<Spoken> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; H2_PREFACE.len()];
    let mut seen = 0;
    loop {
        let peeked = tokio::time::timeout_at(deadline, async {
            if seen > 0 {
                // peek returns at once with what it returned before: wait for more.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            stream.peek(&mut buf).await
        })
        .await;
        let n = match peeked {
            Ok(Ok(n)) if n > seen => n,
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(_)) => continue,
        };
        if buf[..n] != H2_PREFACE[..n] {
            return Some(Spoken::Http1);
        }
        if n == H2_PREFACE.len() {
            return Some(Spoken::Http2);
        }
        seen = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_in_all_and_per_ip_and_free_on_drop() {
        let admission = Admission::new(3, 2);
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = admission.admit(a).unwrap();
        let second = admission.admit(a).unwrap();
        assert_eq!(admission.admit(a).err(), Some(Refused::PerIp));
        let third = admission.admit(b).unwrap();
        assert_eq!(admission.admit(b).err(), Some(Refused::Total));
        drop(first);
        let again = admission.admit(a).unwrap();
        drop((second, third, again));
        assert_eq!(admission.open.load(Ordering::Relaxed), 0);
        assert!(admission.per_ip.lock().unwrap().is_empty());
    }

    #[test]
    fn no_limit_per_ip_when_zero() {
        let admission = Admission::new(10, 0);
        let ip = "10.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..10).map(|_| admission.admit(ip).unwrap()).collect();
        assert_eq!(admission.admit(ip).err(), Some(Refused::Total));
        drop(held);
    }
}
