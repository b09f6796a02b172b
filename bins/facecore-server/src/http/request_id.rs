//! The `X-Request-Id` of a request: the client's when it is sane, else one
//! made here.

/// The client's `X-Request-Id` when it is 1..=64 of `A-Z a-z 0-9 . _ -`,
/// else a fresh random one.
pub fn request_id(headers: &hyper::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
        .map(str::to_string)
        .unwrap_or_else(new_request_id)
}

/// A fresh request id: 20 base32 characters, 8 drawn at random once per
/// process and 12 counting requests. Unique within a process, and across
/// restarts but for a 1 in 2^40 chance; no system call per request (drawing
/// all 20 at random cost a `getrandom` call on every request).
fn new_request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let prefix = PREFIX.get_or_init(|| {
        facecore::store::random_base32(8).unwrap_or_else(|_| {
            // No randomness from the system: the process id and start time
            // still tell processes apart.
            let seed = u64::from(std::process::id())
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
            (0..8)
                .map(|i| char::from(BASE32[((seed >> (5 * i)) & 31) as usize]))
                .collect()
        })
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut id = String::with_capacity(20);
    id.push_str(prefix);
    id.extend(
        (0..12)
            .rev()
            .map(|i| char::from(BASE32[((n >> (5 * i)) & 31) as usize])),
    );
    id
}
