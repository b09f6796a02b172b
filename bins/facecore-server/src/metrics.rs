//! Prometheus metrics at `GET /metrics` (text exposition format 0.0.4):
//! requests by route and status, latency histograms per route, time per
//! inference stage, the inference queue, overload rejections, collections
//! and faces per account, and process memory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use facecore::StageTimings;
use facecore::store::Store;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    stages: Mutex<BTreeMap<&'static str, (f64, u64)>>,
    /// Requests running or waiting for inference.
    pub queue_depth: AtomicU64,
    /// Requests refused with 503 because the queue was full.
    pub rejections: AtomicU64,
}

impl Metrics {
    /// Counts one answered request.
    pub fn observe_request(&self, route: &'static str, status: u16, latency: Duration) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((route, status)).or_insert(0) += 1;
        }
        if let Ok(mut latency_by_route) = self.latency.lock() {
            let h = latency_by_route.entry(route).or_default();
            if h.counts.is_empty() {
                h.counts = vec![0; BUCKETS.len()];
            }
            let secs = latency.as_secs_f64();
            for (count, bound) in h.counts.iter_mut().zip(BUCKETS) {
                if secs <= *bound {
                    *count += 1;
                }
            }
            h.sum += secs;
            h.count += 1;
        }
    }

    /// Adds one inference call's stage timings.
    pub fn observe_stages(&self, t: &StageTimings) {
        if let Ok(mut stages) = self.stages.lock() {
            for (stage, d) in [
                ("decode", t.decode),
                ("detect", t.detect),
                ("landmarks", t.landmarks),
                ("align", t.align),
                ("embed", t.embed),
            ] {
                let entry = stages.entry(stage).or_insert((0.0, 0));
                entry.0 += d.as_secs_f64();
                entry.1 += 1;
            }
        }
    }

    /// The exposition text. Reads the store for collections and faces per
    /// account.
    pub fn render(&self, store: &Store) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP facecore_requests_total Requests answered, by route and status."
        );
        let _ = writeln!(out, "# TYPE facecore_requests_total counter");
        if let Ok(requests) = self.requests.lock() {
            for ((route, status), n) in requests.iter() {
                let _ = writeln!(
                    out,
                    "facecore_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP facecore_request_duration_seconds Time to answer a request, by route."
        );
        let _ = writeln!(out, "# TYPE facecore_request_duration_seconds histogram");
        if let Ok(latency) = self.latency.lock() {
            for (route, h) in latency.iter() {
                for (count, bound) in h.counts.iter().zip(BUCKETS) {
                    let _ = writeln!(
                        out,
                        "facecore_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                    );
                }
                let _ = writeln!(
                    out,
                    "facecore_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "facecore_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "facecore_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.count
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP facecore_inference_stage_seconds_total Time spent in each pipeline stage."
        );
        let _ = writeln!(out, "# TYPE facecore_inference_stage_seconds_total counter");
        let _ = writeln!(
            out,
            "# HELP facecore_inference_calls_total Inference calls, per stage."
        );
        let _ = writeln!(out, "# TYPE facecore_inference_calls_total counter");
        if let Ok(stages) = self.stages.lock() {
            for (stage, (secs, n)) in stages.iter() {
                let _ = writeln!(
                    out,
                    "facecore_inference_stage_seconds_total{{stage=\"{stage}\"}} {secs}"
                );
                let _ = writeln!(
                    out,
                    "facecore_inference_calls_total{{stage=\"{stage}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP facecore_inference_queue_depth Requests running or waiting for inference."
        );
        let _ = writeln!(out, "# TYPE facecore_inference_queue_depth gauge");
        let _ = writeln!(
            out,
            "facecore_inference_queue_depth {}",
            self.queue_depth.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP facecore_overload_rejections_total Requests refused with 503 because the queue was full."
        );
        let _ = writeln!(out, "# TYPE facecore_overload_rejections_total counter");
        let _ = writeln!(
            out,
            "facecore_overload_rejections_total {}",
            self.rejections.load(Ordering::Relaxed)
        );
        render_store(&mut out, store);
        if let Some(rss) = resident_memory_bytes() {
            let _ = writeln!(
                out,
                "# HELP process_resident_memory_bytes Resident memory of the server."
            );
            let _ = writeln!(out, "# TYPE process_resident_memory_bytes gauge");
            let _ = writeln!(out, "process_resident_memory_bytes {rss}");
        }
        out
    }
}

/// Collections and faces per (active) account.
fn render_store(out: &mut String, store: &Store) {
    let Ok(accounts) = store.list_accounts() else {
        return;
    };
    let _ = writeln!(out, "# HELP facecore_collections Collections per account.");
    let _ = writeln!(out, "# TYPE facecore_collections gauge");
    let _ = writeln!(out, "# HELP facecore_faces Faces stored per account.");
    let _ = writeln!(out, "# TYPE facecore_faces gauge");
    for account in accounts.iter().filter(|a| a.deleted_at.is_none()) {
        let Ok(collections) = store.list_collections(&account.name) else {
            continue;
        };
        let faces: u64 = collections.iter().map(|c| c.face_count).sum();
        // Account names are 1..=64 of [A-Za-z0-9._-]: safe inside a label.
        let _ = writeln!(
            out,
            "facecore_collections{{account=\"{}\"}} {}",
            account.name,
            collections.len()
        );
        let _ = writeln!(
            out,
            "facecore_faces{{account=\"{}\"}} {faces}",
            account.name
        );
    }
}

/// Resident set size from `/proc/self/statm` (Linux), in bytes.
fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
