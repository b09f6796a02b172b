//! Where log lines go: collected in memory and written out in batches by
//! one thread.
//!
//! The server logs a line per request. Written one at a time, each line is a
//! system call, and handing lines to a writer thread through a channel
//! (`tracing-appender`'s non-blocking writer) wakes that thread for nearly
//! every line, where it spins in `sched_yield` and then writes one line: at
//! 34,000 compare requests a second that thread used 8% of the machine and
//! made 18,000 writes a second. Here a request appends its line to a shared
//! buffer under a short lock; the writer thread is woken once per batch,
//! waits [`BatchedOutput::interval`] for more lines, and writes everything
//! in one call.
//!
//! Nothing is dropped: when the buffer holds [`BatchedOutput::limit`] bytes
//! (the output cannot keep up, say a pipe nobody reads), a request waits for
//! the writer thread to take it. If the output fails, the thread says so
//! once on stderr and goes on emptying the buffer, so that requests never
//! wait on a broken output. Dropping the [`FlushGuard`] writes what is left.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Settings of the batched output.
#[derive(Debug, Clone, Copy)]
pub struct BatchedOutput {
    /// How long the writer thread waits, once woken, for more lines before
    /// writing: the longest a line waits in memory when the buffer is not
    /// full.
    pub interval: Duration,
    /// Bytes the buffer may hold before a request waits for the writer.
    pub limit: usize,
}

impl Default for BatchedOutput {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(25),
            limit: 4 << 20,
        }
    }
}

struct State {
    buffer: Vec<u8>,
    closing: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signals the writer thread: lines arrived, the buffer is full, or the
    /// guard is closing.
    wake: Condvar,
    /// Signals waiting requests: the writer thread took the buffer.
    taken: Condvar,
    limit: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave a torn state (each
        // critical section is a push or a swap), so a poisoned lock is used.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The writing end: implements [`tracing_subscriber::fmt::MakeWriter`], and
/// [`Write`] through [`LogSink::line`]. Cheap to clone.
#[derive(Clone)]
pub struct LogSink {
    shared: Arc<Shared>,
}

/// Writes the remaining lines and stops the writer thread when dropped.
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the writer thread over `out`.
///
/// # Errors
/// When the thread cannot be started.
pub fn batched<W: Write + Send + 'static>(
    out: W,
    settings: BatchedOutput,
) -> std::io::Result<(LogSink, FlushGuard)> {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            buffer: Vec::with_capacity(64 * 1024),
            closing: false,
        }),
        wake: Condvar::new(),
        taken: Condvar::new(),
        limit: settings.limit.max(1),
    });
    let thread = std::thread::Builder::new()
        .name("facecore-log".into())
        .spawn({
            let shared = Arc::clone(&shared);
            move || write_batches(&shared, out, settings.interval)
        })?;
    Ok((
        LogSink {
            shared: Arc::clone(&shared),
        },
        FlushGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

fn write_batches<W: Write>(shared: &Shared, mut out: W, interval: Duration) {
    let mut batch = Vec::with_capacity(64 * 1024);
    let mut broken = false;
    loop {
        let mut state = shared.lock();
        while state.buffer.is_empty() && !state.closing {
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        // Lines have arrived: give others the interval to join them,
        // unless the buffer fills or the guard closes first.
        let (mut state, _) = shared
            .wake
            .wait_timeout_while(state, interval, |s| {
                s.buffer.len() < shared.limit && !s.closing
            })
            .unwrap_or_else(PoisonError::into_inner);
        let closing = state.closing;
        std::mem::swap(&mut state.buffer, &mut batch);
        drop(state);
        shared.taken.notify_all();
        if !batch.is_empty()
            && !broken
            && let Err(e) = out.write_all(&batch).and_then(|()| out.flush())
        {
            broken = true;
            eprintln!("facecore-server: log output failed, log lines are discarded: {e}");
        }
        batch.clear();
        if closing && shared.lock().buffer.is_empty() {
            return;
        }
    }
}

impl LogSink {
    /// Appends `bytes` (whole lines, as the log formatter writes them).
    pub fn append(&self, bytes: &[u8]) {
        let shared = &*self.shared;
        let mut state = shared.lock();
        while state.buffer.len() >= shared.limit && !state.closing {
            shared.wake.notify_one();
            state = shared
                .taken
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let was_empty = state.buffer.is_empty();
        state.buffer.extend_from_slice(bytes);
        let full = state.buffer.len() >= shared.limit;
        drop(state);
        // One wake-up per batch: the thread waits on an empty buffer, or
        // for a full one.
        if was_empty || full {
            shared.wake.notify_one();
        }
    }

    /// A [`Write`] handle for one formatted event.
    #[must_use]
    pub fn line(&self) -> SinkWriter<'_> {
        SinkWriter { sink: self }
    }
}

/// [`Write`] into a [`LogSink`].
pub struct SinkWriter<'a> {
    sink: &'a LogSink,
}

impl Write for SinkWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sink.append(buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.sink.append(buf);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = SinkWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        self.line()
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
        self.shared.taken.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// An output that records what reached it, optionally slowly, or fails.
    #[derive(Clone, Default)]
    struct Recorder {
        bytes: Arc<Mutex<Vec<u8>>>,
        writes: Arc<Mutex<usize>>,
        delay: Duration,
        fail: bool,
    }

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.fail {
                return Err(std::io::Error::other("closed"));
            }
            std::thread::sleep(self.delay);
            self.bytes.lock().expect("lock").extend_from_slice(buf);
            *self.writes.lock().expect("lock") += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines_of(recorder: &Recorder) -> Vec<String> {
        String::from_utf8(recorder.bytes.lock().expect("lock").clone())
            .expect("ok")
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn every_line_arrives_whole_and_in_order_with_few_writes() {
        let recorder = Recorder::default();
        let (sink, guard) = batched(recorder.clone(), BatchedOutput::default()).expect("ok");
        std::thread::scope(|s| {
            for t in 0..4 {
                let sink = sink.clone();
                s.spawn(move || {
                    for i in 0..5_000 {
                        let mut w = sink.line();
                        w.write_all(format!("thread {t} line {i}\n").as_bytes())
                            .expect("ok");
                    }
                });
            }
        });
        drop(guard);
        let lines = lines_of(&recorder);
        assert_eq!(lines.len(), 20_000);
        for t in 0..4 {
            let mine: Vec<&String> = lines
                .iter()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .collect();
            let expected: Vec<String> =
                (0..5_000).map(|i| format!("thread {t} line {i}")).collect();
            assert!(
                mine.iter()
                    .map(|s| s.as_str())
                    .eq(expected.iter().map(String::as_str))
            );
        }
        let writes = *recorder.writes.lock().expect("lock");
        assert!(writes < 2_000, "{writes} writes for 20,000 lines");
    }

    #[test]
    fn a_lone_line_is_written_without_waiting_for_more() {
        let recorder = Recorder::default();
        let (sink, _guard) = batched(recorder.clone(), BatchedOutput::default()).expect("ok");
        sink.line().write_all(b"hello\n").expect("ok");
        let deadline = Instant::now() + Duration::from_secs(10);
        while lines_of(&recorder).is_empty() {
            assert!(Instant::now() < deadline, "the line was never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(lines_of(&recorder), ["hello"]);
    }

    #[test]
    fn a_slow_output_holds_writers_back_instead_of_dropping_lines() {
        let recorder = Recorder {
            delay: Duration::from_millis(2),
            ..Recorder::default()
        };
        let settings = BatchedOutput {
            interval: Duration::from_millis(1),
            limit: 256,
        };
        let (sink, guard) = batched(recorder.clone(), settings).expect("ok");
        for i in 0..2_000 {
            sink.append(format!("line {i:05}\n").as_bytes());
            assert!(sink.shared.lock().buffer.len() <= 256 + 11);
        }
        drop(guard);
        let lines = lines_of(&recorder);
        let expected: Vec<String> = (0..2_000).map(|i| format!("line {i:05}")).collect();
        assert_eq!(lines, expected);
    }

    #[test]
    fn a_failed_output_never_blocks_the_writers() {
        let recorder = Recorder {
            fail: true,
            ..Recorder::default()
        };
        let settings = BatchedOutput {
            interval: Duration::from_millis(1),
            limit: 64,
        };
        let (sink, guard) = batched(recorder, settings).expect("ok");
        for i in 0..10_000 {
            sink.append(format!("line {i}\n").as_bytes());
        }
        drop(guard);
    }
}
