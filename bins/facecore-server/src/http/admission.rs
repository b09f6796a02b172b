//! The admission queue in front of inference: a bounded number of requests
//! run on the blocking pool at once, a bounded number wait, and the rest
//! get 503 at once instead of piling up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Semaphore;

use crate::error::{self, ApiError};
use crate::metrics::Metrics;

/// Results that carry the pipeline's stage timings (for the metrics).
pub trait Timed {
    /// Time spent per stage.
    fn timings(&self) -> facecore::StageTimings;
}

impl Timed for facecore::Detection {
    fn timings(&self) -> facecore::StageTimings {
        self.timings
    }
}

impl Timed for facecore::Embeddings {
    fn timings(&self) -> facecore::StageTimings {
        self.timings
    }
}

impl Timed for facecore::collections::Enrolled {
    fn timings(&self) -> facecore::StageTimings {
        self.timings
    }
}

impl Timed for facecore::collections::PreparedImage {
    fn timings(&self) -> facecore::StageTimings {
        self.timings
    }
}

/// Counts a request in the inference queue until dropped.
struct QueueSlot<'a>(&'a AtomicU64);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Permits for inference: `workers` running, `queue` more waiting.
#[derive(Debug)]
pub struct Admission {
    /// Permits for requests admitted (running or queued).
    admitted: Arc<Semaphore>,
    /// Permits for requests running.
    workers: Arc<Semaphore>,
    capacity: usize,
}

impl Admission {
    /// Room for `workers` running requests (at least one) and `queue`
    /// waiting ones.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Self {
            admitted: Arc::new(Semaphore::new(workers + queue)),
            workers: Arc::new(Semaphore::new(workers)),
            capacity: workers + queue,
        }
    }

    /// Runs `work` on the blocking pool once a worker is free; 503 at once
    /// when the queue is full. Counts the queue depth, rejections and the
    /// result's stage timings in `metrics`.
    pub async fn run<T, F>(&self, metrics: &Metrics, work: F) -> Result<T, ApiError>
    where
        T: Timed + Send + 'static,
        F: FnOnce() -> Result<T, facecore::Error> + Send + 'static,
    {
        self.run_mapped(metrics, ApiError::from_error, work).await
    }

    /// [`Admission::run`], with a dialect's own mapping of facade errors.
    pub async fn run_mapped<T, F>(
        &self,
        metrics: &Metrics,
        map: fn(&facecore::Error) -> ApiError,
        work: F,
    ) -> Result<T, ApiError>
    where
        T: Timed + Send + 'static,
        F: FnOnce() -> Result<T, facecore::Error> + Send + 'static,
    {
        let Ok(_admitted) = self.admitted.clone().try_acquire_owned() else {
            metrics.rejections.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::new(
                error::OVERLOADED,
                format!(
                    "the server is busy: {} requests are running or queued; retry shortly",
                    self.capacity
                ),
            ));
        };
        metrics.queue_depth.fetch_add(1, Ordering::Relaxed);
        let depth = QueueSlot(&metrics.queue_depth);
        let _worker = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| ApiError::new(error::INTERNAL, e.to_string()))?;
        let result = tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::new(error::INTERNAL, format!("inference failed: {e}")))?
            .map_err(|e| map(&e))?;
        drop(depth);
        metrics.observe_stages(&result.timings());
        Ok(result)
    }
}
