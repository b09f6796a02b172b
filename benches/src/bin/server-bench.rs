//! `server-bench`: the running HTTP server under load on loopback, beside the
//! in-process engine measured in the same run. Used by
//! `cargo xtask bench-report --http`.
//!
//! ```text
//! server-bench <facecore-server binary> [--seconds N] [--connections N] [--subjects N]
//! ```
//!
//! Prints a Markdown table: compare-face-embeddings requests/s (keep-alive,
//! many connections), get-face-embeddings faces/s, face/index requests/s
//! (each stores a face), p50/p99 latency, and the in-process figures with the
//! HTTP overhead as a ratio. Then recognition against `--subjects` named
//! persons (default 10,000; 0 skips it): CompreFace's `recognize` beside the
//! Face Recognition API's `face/search` on the same collection, p50/p99 of
//! one request at a time.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use facecore::{Engine, EngineConfig};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Load {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

impl Load {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }
}

/// Runs `connections` keep-alive HTTP/1.1 connections, each sending `body`
/// to `path` back to back for `duration`.
///
/// The requests are written as prepared bytes and only the status line and
/// `content-length` of each answer are read, the way `wrk` works: on two
/// cores the generator shares the machine with the server, and a full HTTP
/// client (hyper's, measured here before) took about a third more CPU per
/// request than the server's own share, which showed up as the server's
/// throughput.
async fn load(
    addr: &str,
    path: &str,
    key: &str,
    body: &[u8],
    connections: usize,
    duration: Duration,
) -> Result<Load, BoxError> {
    load_prepared(
        addr,
        Bytes::from(api_post(addr, path, key, body)),
        connections,
        duration,
    )
    .await
}

/// [`load`] of a request already written as bytes.
async fn load_prepared(
    addr: &str,
    request: Bytes,
    connections: usize,
    duration: Duration,
) -> Result<Load, BoxError> {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (addr, request) = (addr.to_string(), request.clone());
        tasks.spawn(async move {
            let mut connection = Connection::open(&addr).await?;
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let t = Instant::now();
                let (status, _) = connection.exchange(&request).await?;
                latencies.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                if status != 200 {
                    errors += 1;
                }
            }
            Ok::<_, BoxError>((latencies, errors))
        });
    }
    let mut all = Vec::new();
    let mut errors = 0;
    while let Some(done) = tasks.join_next().await {
        let (latencies, e) = done??;
        all.extend(latencies);
        errors += e;
    }
    let elapsed = started.elapsed();
    all.sort_unstable();
    Ok(Load {
        requests: all.len(),
        errors,
        elapsed,
        latencies_us: all,
    })
}

/// The bytes of an authenticated JSON POST of `body` to `path`.
fn api_post(addr: &str, path: &str, key: &str, body: &[u8]) -> Vec<u8> {
    post_bytes(
        addr,
        path,
        &format!("authorization: ApiKey {key}"),
        "application/json",
        body,
    )
}

/// The bytes of a POST of `body` to `path` with one credential header.
fn post_bytes(addr: &str, path: &str, auth: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}\r\n\
         content-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// One keep-alive HTTP/1.1 connection that sends prepared requests.
struct Connection {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    async fn open(addr: &str) -> Result<Self, BoxError> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buffer: Vec::with_capacity(64 * 1024),
        })
    }

    /// Writes `request` and reads the whole answer: its status, and where
    /// its body lies in `self.buffer` (the answer is not copied: the load
    /// loop only looks at the status).
    async fn exchange(
        &mut self,
        request: &[u8],
    ) -> Result<(u16, std::ops::Range<usize>), BoxError> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        self.stream.write_all(request).await?;
        self.buffer.clear();
        // (end of the head, status, content-length), once the head is in.
        let mut head: Option<(usize, u16, usize)> = None;
        loop {
            if head.is_none()
                && let Some(end) = self
                    .buffer
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|at| at + 4)
            {
                let text = std::str::from_utf8(&self.buffer[..end])?;
                let status: u16 = text
                    .get(9..12)
                    .ok_or("a short status line")?
                    .parse()
                    .map_err(|_| format!("a bad status line: {text}"))?;
                let length: usize = text
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .ok_or("an answer without content-length")?;
                head = Some((end, status, length));
            }
            if let Some((end, status, length)) = head
                && self.buffer.len() >= end + length
            {
                return Ok((status, end..end + length));
            }
            if self.stream.read_buf(&mut self.buffer).await? == 0 {
                return Err("the server closed the connection".into());
            }
        }
    }
}

/// One POST that must be answered 200.
async fn post_once(addr: &str, path: &str, key: &str, body: &[u8]) -> Result<(), BoxError> {
    let mut connection = Connection::open(addr).await?;
    let (status, text) = connection
        .exchange(&api_post(addr, path, key, body))
        .await?;
    if status != 200 {
        let text = String::from_utf8_lossy(&connection.buffer[text]);
        return Err(format!("POST {path}: {status} {text}").into());
    }
    Ok(())
}

fn start_server(
    binary: &PathBuf,
    data: &std::path::Path,
) -> Result<(Child, String, Option<String>), BoxError> {
    let mut child = Command::new(binary)
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut key = None;
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next() {
        let line = line?;
        if line.trim().starts_with("fc_") {
            key = Some(line.trim().to_string());
        }
        if let Some(rest) = line.strip_prefix("facecore-server: listening on http://") {
            let addr = rest
                .split_whitespace()
                .next()
                .ok_or("no address")?
                .to_string();
            // Keep reading the access log, as a container runtime would: a
            // closed pipe would make every request log a write error.
            std::thread::spawn(move || lines.for_each(drop));
            return Ok((child, addr, key));
        }
    }
    Err("the server exited before listening".into())
}

/// A seeded generator of the random unit vectors that stand in for the other
/// subjects' faces (strangers to the query, as real ones would be).
struct XorShift(u64);

impl XorShift {
    fn unit_vector(&mut self, dim: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dim)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }
}

/// One measured endpoint of the recognition comparison.
struct Measured {
    what: &'static str,
    load: Load,
}

/// Recognition against `subjects` named persons of one face each: the photo's
/// own face is subject 0, the others random vectors. CompreFace's
/// `recognize` (through a recognition service) and the Face Recognition
/// API's `face/search` (through the account's key) run on the same
/// collection, one request at a time, so p50 is the latency a caller sees.
/// Both answers are checked to find subject 0 before timing.
fn recognition(
    binary: &PathBuf,
    photo: &[u8],
    face: &facecore::FaceEmbedding,
    model: &str,
    subjects: usize,
    duration: Duration,
) -> Result<Vec<Measured>, BoxError> {
    use facecore_store::{NewFace, PersonRef, ServiceKind, Store};
    let data = std::env::temp_dir().join(format!(
        "facecore-server-bench-subjects-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data)?;
    let mut subject_face = String::new();
    let (account_key, service_key) = {
        let store = Store::open(data.join("facecore.redb"))?;
        let account_key = store.create_key("bench", Some("server-bench"))?.secret;
        store.create_collection("bench", "subjects", None)?;
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let dim = face.embedding.vector.len();
        let mut done = 0;
        while done < subjects {
            let batch: Vec<NewFace> = (done..subjects.min(done + 5_000))
                .map(|i| NewFace {
                    model: model.to_string(),
                    embedding: if i == 0 {
                        face.embedding.vector.clone()
                    } else {
                        rng.unit_vector(dim)
                    },
                    bounding_box: [0, 0, 100, 100],
                    confidence: 0.99,
                    person: Some(PersonRef::Named(format!("subject-{i}"))),
                    ..NewFace::default()
                })
                .collect();
            done += batch.len();
            let stored = store.insert_faces("bench", "subjects", None, batch)?;
            if done == stored.len() {
                subject_face = stored[0].face_id.clone();
            }
        }
        let service =
            store.create_service("bench", ServiceKind::Recognition, "bench", Some("subjects"))?;
        (account_key, service.key.secret)
    };
    let (mut child, addr, _) = start_server(binary, &data)?;
    let boundary = "serverBenchBoundary";
    let mut multipart = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n"
    )
    .into_bytes();
    multipart.extend_from_slice(photo);
    multipart.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let photo_b64 = base64::engine::general_purpose::STANDARD.encode(photo);
    let search = serde_json::to_vec(&serde_json::json!({
        "image": {"bytes": photo_b64},
        "collectionId": "subjects",
    }))?;
    let embeddings = format!(
        r#"{{"embeddings": [{}]}}"#,
        serde_json::to_string(&face.embedding.vector)?
    );
    let x_api_key = format!("x-api-key: {service_key}");
    let calls = [
        (
            "CompreFace recognize (multipart PNG)",
            post_bytes(
                &addr,
                "/api/v1/recognition/recognize",
                &x_api_key,
                &format!("multipart/form-data; boundary={boundary}"),
                &multipart,
            ),
        ),
        (
            "Face Recognition API face/search (base64 PNG)",
            api_post(&addr, "/v1/face/search", &account_key, &search),
        ),
        (
            "CompreFace embeddings/recognize (one 512-d vector)",
            post_bytes(
                &addr,
                "/api/v1/recognition/embeddings/recognize",
                &x_api_key,
                "application/json",
                embeddings.as_bytes(),
            ),
        ),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let mut measured = Vec::new();
        for (what, request) in calls {
            let mut connection = Connection::open(&addr).await?;
            let (status, body) = connection.exchange(&request).await?;
            let text = String::from_utf8_lossy(&connection.buffer[body]).into_owned();
            // CompreFace names the subject; the Face Recognition API answers
            // the face id of subject 0's only face.
            let found = text.contains("subject-0") || text.contains(&subject_face);
            if status != 200 || !found {
                return Err(format!("{what}: {status} {text}").into());
            }
            let request = Bytes::from(request);
            load_prepared(&addr, request.clone(), 1, Duration::from_secs(1)).await?;
            let load = load_prepared(&addr, request, 1, duration).await?;
            measured.push(Measured { what, load });
        }
        Ok::<_, BoxError>(measured)
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
    result
}

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let binary = PathBuf::from(args.next().ok_or(
        "usage: server-bench <facecore-server> [--seconds N] [--connections N] [--subjects N]",
    )?);
    let mut seconds = 10u64;
    let mut connections = 32usize;
    let mut subjects = 10_000usize;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or("flag without value")?;
        match flag.as_str() {
            "--seconds" => seconds = value.parse()?,
            "--connections" => connections = value.parse()?,
            "--subjects" => subjects = value.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let duration = Duration::from_secs(seconds);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let photo = std::fs::read(root.join("fixtures/astronaut.png"))?;

    // In process, same machine, same run.
    let engine = Arc::new(Engine::load(EngineConfig::default())?);
    let face = engine.embed(&photo, 1)?;
    let vector = face
        .faces
        .first()
        .ok_or("no face in the fixture")?
        .embedding
        .vector
        .clone();
    let mut other = vector.clone();
    other.reverse();
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed() < Duration::from_secs(2) {
        for _ in 0..1000 {
            std::hint::black_box(engine.compare_vectors(&vector, &other)?);
        }
        n += 1000;
    }
    let compare_in_process = n as f64 / t.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(2, |c| c.get());
    let t = Instant::now();
    let faces: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores)
            .map(|_| {
                s.spawn(|| {
                    let mut done = 0;
                    while t.elapsed() < duration {
                        if engine.embed(&photo, 1).is_ok() {
                            done += 1;
                        }
                    }
                    done
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let embed_in_process = faces as f64 / t.elapsed().as_secs_f64();
    // One photo at a time, for the recognition rows.
    let mut single = Vec::new();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        let started = Instant::now();
        engine.embed(&photo, 1)?;
        single.push(started.elapsed());
    }
    single.sort_unstable();
    let embed_p50_ms = single[single.len() / 2].as_secs_f64() * 1e3;
    let model = engine.model_id().to_string();
    let query_face = face.faces[0].clone();
    drop(engine);

    let data = std::env::temp_dir().join(format!("facecore-server-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let (mut child, addr, key) = start_server(&binary, &data)?;
    let key = key.ok_or("the server printed no first key")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The embeddings as the API wrote them (shortest f32 text), which is
    // what a client sends back; `json!` would widen them to 17-digit f64s.
    let compare_body = Bytes::from(format!(
        r#"{{"embedding1": {}, "embedding2": {}}}"#,
        serde_json::to_string(&vector)?,
        serde_json::to_string(&other)?
    ));
    let photo_b64 = base64::engine::general_purpose::STANDARD.encode(&photo);
    let embed_body = Bytes::from(serde_json::to_vec(&serde_json::json!({
        "image": {"bytes": photo_b64},
    }))?);
    let index_body = Bytes::from(serde_json::to_vec(&serde_json::json!({
        "image": {"bytes": photo_b64},
        "collectionId": "bench",
    }))?);
    let result = runtime.block_on(async {
        // Warm up both paths.
        load(
            &addr,
            "/v1/face-verification/compare-face-embeddings",
            &key,
            &compare_body,
            4,
            Duration::from_secs(1),
        )
        .await?;
        let compare = load(
            &addr,
            "/v1/face-verification/compare-face-embeddings",
            &key,
            &compare_body,
            connections,
            duration,
        )
        .await?;
        let embed = load(
            &addr,
            "/v1/face-verification/get-face-embeddings",
            &key,
            &embed_body,
            cores * 2,
            duration,
        )
        .await?;
        // Enrolment: every request stores one face (a durable redb commit).
        post_once(
            &addr,
            "/v1/collection/create",
            &key,
            br#"{"collectionId":"bench"}"#,
        )
        .await?;
        let index = load(
            &addr,
            "/v1/face/index",
            &key,
            &index_body,
            cores * 2,
            duration,
        )
        .await?;
        Ok::<_, BoxError>((compare, embed, index))
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
    let (compare, embed, index) = result?;

    println!(
        "| measure | HTTP (loopback, load generator on 1 thread) | in process | HTTP / in process |"
    );
    println!("|---|---|---|---|");
    println!(
        "| compare-face-embeddings | {:.0} req/s ({} connections), p50 {:.2} ms, p99 {:.2} ms, {} errors | {:.0} compares/s (1 thread) | {:.3} |",
        compare.rate(),
        connections,
        compare.percentile_ms(0.5),
        compare.percentile_ms(0.99),
        compare.errors,
        compare_in_process,
        compare.rate() / compare_in_process
    );
    println!(
        "| get-face-embeddings (1 face, 512x512 PNG) | {:.1} faces/s ({} connections), p50 {:.1} ms, p99 {:.1} ms, {} errors | {:.1} faces/s ({cores} threads) | {:.3} |",
        embed.rate(),
        cores * 2,
        embed.percentile_ms(0.5),
        embed.percentile_ms(0.99),
        embed.errors,
        embed_in_process,
        embed.rate() / embed_in_process
    );
    println!(
        "| face/index (1 face, 512x512 PNG, stored in one collection) | {:.1} req/s ({} connections), p50 {:.1} ms, p99 {:.1} ms, {} errors | {:.1} faces/s embedded ({cores} threads) | {:.3} |",
        index.rate(),
        cores * 2,
        index.percentile_ms(0.5),
        index.percentile_ms(0.99),
        index.errors,
        embed_in_process,
        index.rate() / embed_in_process
    );
    println!(
        "\nTargets (issue 5): compare >= 50000 req/s, get-face-embeddings >= 40 faces/s on 2 cores."
    );
    if subjects > 0 {
        let rows = recognition(&binary, &photo, &query_face, &model, subjects, duration)?;
        println!(
            "\nRecognition against {subjects} subjects (one face each, one request at a time; in process, embedding the photo takes {embed_p50_ms:.1} ms p50):\n"
        );
        println!(
            "| request | p50 ms | p99 ms | requests | errors | p50 / Face Recognition API search |"
        );
        println!("|---|---|---|---|---|---|");
        let baseline = rows
            .iter()
            .find(|m| m.what.starts_with("Face Recognition"))
            .map_or(f64::NAN, |m| m.load.percentile_ms(0.5));
        for m in &rows {
            let p50 = m.load.percentile_ms(0.5);
            println!(
                "| {} | {p50:.2} | {:.2} | {} | {} | {:.3} |",
                m.what,
                m.load.percentile_ms(0.99),
                m.load.requests,
                m.load.errors,
                p50 / baseline
            );
        }
    }
    Ok(())
}
