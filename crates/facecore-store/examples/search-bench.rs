//! `search-bench` (an example of `facecore-store`): 1:N search at scale, the approximate index beside exact
//! search in the same run (`cargo xtask bench-search` builds and runs it).
//!
//! ```text
//! search-bench --real EMBEDDINGS.jsonl --labels labels.csv [--faces N]
//!              [--queries N] [--probes P,P,...] [--isotropy A] [--no-store]
//!              [--out FILE]
//! ```
//!
//! The collection is face-like, not uniform noise: the real embeddings of a
//! labelled set (the calibration cache of `faces-dev`) give the shape (see
//! `Shape`: how real people differ from each other and how a person's photos
//! differ from each other), and synthetic people are drawn from it, each
//! with one to five enrolled photos. The real people are enrolled
//! too. Queries are held-out photos of enrolled people (rank 1 should be the
//! same person) and photos of people who are not enrolled.
//!
//! Printed per index: `p50 ms`, `p99 ms` (one query at a time, enrolled
//! people; `strangers p50 ms` for the others),
//! `rank-1 agreement` (enrolled queries whose best face is exact search's),
//! `enrolled hit rate` (best face is the same person), `bytes per face`,
//! `build s`, and `load s` (a real restart: reopen the redb data file
//! holding the whole collection, read it, build the index, first search).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use facecore_store::index::{ExactIndex, VectorIndex};
use facecore_store::ivf::{ExactRows, IvfIndex, IvfParams};
use facecore_store::{NewFace, Store, StoreError};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const DIM: usize = 512;
const MODEL: &str = "fr_feature@0.0.1";

/// xorshift64* with Box–Muller normals: deterministic data, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

struct Args {
    faces: usize,
    queries: usize,
    real: PathBuf,
    labels: PathBuf,
    probes: Vec<usize>,
    isotropy: f32,
    store: bool,
    out: Option<PathBuf>,
    /// Write the collection and queries as raw little-endian f32 files
    /// (`base.f32`, `enrolled.f32`, `strangers.f32`, `persons.txt`) to
    /// compare other libraries on the very same data.
    dump: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        faces: 100_000,
        queries: 1000,
        real: PathBuf::new(),
        labels: PathBuf::new(),
        probes: Vec::new(),
        isotropy: 0.2,
        store: true,
        out: None,
        dump: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--faces" => args.faces = value()?.parse()?,
            "--queries" => args.queries = value()?.parse()?,
            "--real" => args.real = value()?.into(),
            "--labels" => args.labels = value()?.into(),
            "--probes" => {
                args.probes = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<std::result::Result<_, _>>()?
            }
            "--isotropy" => args.isotropy = value()?.parse::<f32>()?.clamp(0.0, 1.0),
            "--no-store" => args.store = false,
            "--out" => args.out = Some(value()?.into()),
            "--dump" => args.dump = Some(value()?.into()),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if args.real.as_os_str().is_empty() || args.labels.as_os_str().is_empty() {
        return Err("--real EMBEDDINGS.jsonl and --labels labels.csv are required".into());
    }
    Ok(args)
}

/// Real embeddings grouped by person.
fn real_people(args: &Args) -> Result<Vec<Vec<Vec<f32>>>> {
    let labels = std::fs::read_to_string(&args.labels)?;
    let identity: HashMap<&str, &str> = labels
        .lines()
        .skip(1)
        .filter_map(|l| l.rsplit_once(','))
        .map(|(p, i)| (p.trim(), i.trim()))
        .collect();
    let mut people: HashMap<String, Vec<Vec<f32>>> = HashMap::new();
    for line in std::fs::read_to_string(&args.real)?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let (Some(path), Some(vector)) = (v["path"].as_str(), v["vector"].as_array()) else {
            continue;
        };
        let Some(person) = identity.get(path) else {
            continue;
        };
        let vector: Vec<f32> = vector
            .iter()
            .filter_map(|x| x.as_f64().map(|x| x as f32))
            .collect();
        if vector.len() == DIM {
            people
                .entry((*person).to_string())
                .or_default()
                .push(unit(vector));
        }
    }
    let mut people: Vec<_> = people.into_iter().collect();
    people.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(people.into_iter().map(|(_, v)| v).collect())
}

/// The shape of real faces. A synthetic person's centre is the real
/// centres' mean plus a random mix of real centres' deviations (which
/// keeps their covariance: the directions along which real people differ)
/// shrunk towards a diagonal Gaussian of the same per-dimension spread by
/// `isotropy` (a shrinkage estimate: a hundred real people span only a
/// hundred directions, real populations span all of them). A photo is the
/// centre plus a random mix of real photos' deviations from their person's
/// mean (pose, light, expression), so its spread is the real one too.
struct Shape {
    mean: Vec<f32>,
    centre_sd: Vec<f32>,
    /// Real centres minus `mean`.
    centres: Vec<Vec<f32>>,
    /// Real photos minus their person's mean, scaled for the bias of a
    /// mean of few photos (√(k/(k−1))).
    residuals: Vec<Vec<f32>>,
    isotropy: f32,
}

/// Real vectors mixed per draw.
const MIX: usize = 8;

impl Shape {
    fn of(people: &[Vec<Vec<f32>>], isotropy: f32) -> Result<Self> {
        let several: Vec<&Vec<Vec<f32>>> = people.iter().filter(|p| p.len() >= 2).collect();
        if several.len() < 10 {
            return Err("need at least 10 real people with two or more photos".into());
        }
        let means: Vec<Vec<f32>> = several
            .iter()
            .map(|p| {
                (0..DIM)
                    .map(|d| p.iter().map(|v| v[d]).sum::<f32>() / p.len() as f32)
                    .collect()
            })
            .collect();
        let k = means.len() as f32;
        let mean: Vec<f32> = (0..DIM)
            .map(|d| means.iter().map(|c| c[d]).sum::<f32>() / k)
            .collect();
        let centres: Vec<Vec<f32>> = means
            .iter()
            .map(|c| c.iter().zip(&mean).map(|(x, m)| x - m).collect())
            .collect();
        let centre_sd = (0..DIM)
            .map(|d| (centres.iter().map(|c| c[d] * c[d]).sum::<f32>() / k).sqrt())
            .collect();
        let mut residuals = Vec::new();
        for (p, c) in several.iter().zip(&means) {
            let scale = (p.len() as f32 / (p.len() - 1) as f32).sqrt();
            for v in p.iter() {
                residuals.push(v.iter().zip(c).map(|(x, m)| (x - m) * scale).collect());
            }
        }
        Ok(Self {
            mean,
            centre_sd,
            centres,
            residuals,
            isotropy,
        })
    }

    /// `Σ gⱼ·rowⱼ / √MIX` over random rows: same covariance as the rows.
    fn mix(rows: &[Vec<f32>], rng: &mut Rng) -> Vec<f32> {
        let mut out = vec![0.0f32; DIM];
        for _ in 0..MIX {
            let row = &rows[rng.next() as usize % rows.len()];
            let g = rng.normal() / (MIX as f32).sqrt();
            for (o, x) in out.iter_mut().zip(row) {
                *o += g * x;
            }
        }
        out
    }

    fn centre(&self, rng: &mut Rng) -> Vec<f32> {
        let mixed = Self::mix(&self.centres, rng);
        let (a, b) = ((1.0 - self.isotropy).sqrt(), self.isotropy.sqrt());
        (0..DIM)
            .map(|d| self.mean[d] + a * mixed[d] + b * self.centre_sd[d] * rng.normal())
            .collect()
    }

    fn photo(&self, centre: &[f32], rng: &mut Rng) -> Vec<f32> {
        let mixed = Self::mix(&self.residuals, rng);
        unit(centre.iter().zip(&mixed).map(|(c, r)| c + r).collect())
    }
}

/// Mean genuine and impostor cosines of a set of people (sampled).
fn cosine_profile(people: &[Vec<Vec<f32>>], rng: &mut Rng) -> (f32, f32) {
    let several: Vec<&Vec<Vec<f32>>> = people.iter().filter(|p| p.len() >= 2).collect();
    let (mut g, mut gn, mut i, mut inn) = (0.0, 0, 0.0, 0);
    for _ in 0..20_000 {
        let a = several[rng.next() as usize % several.len()];
        let b = several[rng.next() as usize % several.len()];
        let x = &a[rng.next() as usize % a.len()];
        let y = &a[rng.next() as usize % a.len()];
        if !std::ptr::eq(x, y) {
            g += dot(x, y);
            gn += 1;
        }
        if !std::ptr::eq(a, b) {
            i += dot(x, &b[0]);
            inn += 1;
        }
    }
    (g / gn.max(1) as f32, i / inn.max(1) as f32)
}

/// Exact rows from memory (the stand-in for the data file while building).
struct MemoryRows {
    rows: HashMap<String, u32>,
    data: Arc<Vec<f32>>,
}

impl ExactRows for MemoryRows {
    fn fetch(&self, face_ids: &[&str]) -> std::result::Result<Vec<Option<Vec<f32>>>, StoreError> {
        Ok(face_ids
            .iter()
            .map(|id| {
                self.rows.get(*id).map(|&r| {
                    let r = r as usize;
                    self.data[r * DIM..(r + 1) * DIM].to_vec()
                })
            })
            .collect())
    }
}

struct Query {
    vector: Vec<f32>,
    /// The person, when enrolled.
    person: Option<u32>,
}

/// A search's answer: face id and cosine.
type Answer = Option<(String, f32)>;

fn person_of(face_id: &str) -> Option<u32> {
    face_id.strip_prefix('p')?.split('s').next()?.parse().ok()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Latencies (ms, sorted) and answers of `index` for every query.
fn run_queries(index: &dyn VectorIndex, queries: &[Query]) -> Result<(Vec<f64>, Vec<Answer>)> {
    let mut times = Vec::with_capacity(queries.len());
    let mut answers = Vec::with_capacity(queries.len());
    for q in queries {
        let started = Instant::now();
        let best = index.best(&q.vector)?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        answers.push(best.map(|(id, c)| (id.to_string(), c)));
    }
    times.sort_by(f64::total_cmp);
    Ok((times, answers))
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let mut report = String::new();
    let mut line = |s: String| {
        println!("{s}");
        report.push_str(&s);
        report.push('\n');
    };
    let mut rng = Rng(0x51ed_2701_f00d_cafe);
    let real = real_people(&args)?;
    let shape = Shape::of(&real, args.isotropy)?;

    // The collection: real people (all but one photo each when they have
    // several) and synthetic people with 1..=5 photos, plus held-out photos
    // as enrolled queries and never-enrolled people as the others.
    let n = args.faces;
    let mut ids: Vec<String> = Vec::with_capacity(n);
    let mut data: Vec<f32> = Vec::with_capacity(n * DIM);
    let mut enrolled: Vec<Query> = Vec::new();
    let mut person = 0u32;
    for photos in &real {
        if ids.len() >= n {
            break;
        }
        let (held, rest) = photos.split_last().ok_or("empty person")?;
        if photos.len() >= 2 {
            enrolled.push(Query {
                vector: held.clone(),
                person: Some(person),
            });
        }
        for (k, v) in (if photos.len() >= 2 { rest } else { &photos[..] })
            .iter()
            .enumerate()
        {
            ids.push(format!("p{person}s{k}"));
            data.extend_from_slice(v);
        }
        person += 1;
    }
    let real_enrolled = enrolled.len();
    let mut synthetic: Vec<Vec<Vec<f32>>> = Vec::new();
    while ids.len() < n {
        let centre = shape.centre(&mut rng);
        let photos = (1 + rng.next() % 5) as usize;
        let mut mine = Vec::new();
        for k in 0..photos.min(n - ids.len()) {
            let v = shape.photo(&centre, &mut rng);
            ids.push(format!("p{person}s{k}"));
            data.extend_from_slice(&v);
            mine.push(v);
        }
        if enrolled.len() < args.queries && rng.next().is_multiple_of(8) {
            enrolled.push(Query {
                vector: shape.photo(&centre, &mut rng),
                person: Some(person),
            });
        }
        if synthetic.len() < 2000 {
            synthetic.push(mine);
        }
        person += 1;
    }
    let strangers: Vec<Query> = (0..args.queries / 2)
        .map(|_| {
            let centre = shape.centre(&mut rng);
            Query {
                vector: shape.photo(&centre, &mut rng),
                person: None,
            }
        })
        .collect();
    let (real_g, real_i) = cosine_profile(&real, &mut rng);
    let (syn_g, syn_i) = cosine_profile(&synthetic, &mut rng);
    line(format!(
        "collection: {n} faces of {person} people ({} real photos); queries: {} enrolled ({} real), {} not enrolled",
        real.iter().map(Vec::len).sum::<usize>(),
        enrolled.len(),
        real_enrolled,
        strangers.len()
    ));
    line(format!(
        "face-likeness: mean genuine / impostor cosine, real {real_g:.3} / {real_i:.3}, synthetic {syn_g:.3} / {syn_i:.3} (isotropy {})",
        args.isotropy
    ));
    if let Some(dir) = &args.dump {
        dump(dir, &ids, &data, &enrolled, &strangers)?;
    }
    let data = Arc::new(data);

    // Exact search.
    let started = Instant::now();
    let mut exact = ExactIndex::new(DIM);
    for (i, id) in ids.iter().enumerate() {
        exact.insert(id, &data[i * DIM..(i + 1) * DIM])?;
    }
    let exact_build = started.elapsed().as_secs_f64();
    let exact_bytes = exact.heap_bytes() as f64 / n as f64;
    let (exact_times, exact_answers) = run_queries(&exact, &enrolled)?;
    let (exact_stranger_times, exact_strangers) = run_queries(&exact, &strangers)?;
    let hit = |answers: &[Answer]| {
        let hits = answers
            .iter()
            .zip(&enrolled)
            .filter(|(a, q)| a.as_ref().and_then(|a| person_of(&a.0)) == q.person)
            .count();
        hits as f64 / enrolled.len() as f64 * 100.0
    };
    let exact_hit = hit(&exact_answers);
    drop(exact);

    // The approximate index, trained as a collection does.
    let rows = Arc::new(MemoryRows {
        rows: ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i as u32))
            .collect(),
        data: Arc::clone(&data),
    });
    let faces: Vec<(&str, &[f32])> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), &data[i * DIM..(i + 1) * DIM]))
        .collect();
    let params = IvfParams {
        lists: IvfParams::auto_lists(n),
        ..IvfParams::default()
    };
    let started = Instant::now();
    let mut ivf = IvfIndex::build(DIM, &faces, params, 200_000, rows)?;
    let ivf_build = started.elapsed().as_secs_f64();
    let ivf_bytes = ivf.heap_bytes() as f64 / n as f64;
    drop(faces);
    line(format!(
        "index: {} lists, {} probed by default",
        ivf.lists(),
        ivf.probes()
    ));

    let default_probes = ivf.probes();
    let mut sweep = args.probes.clone();
    if !sweep.contains(&default_probes) {
        sweep.push(default_probes);
    }
    line(String::new());
    line("| index | probes | p50 ms | p99 ms | rank-1 agreement | enrolled hit rate | strangers scored as exact | strangers p50 ms |".into());
    line("|---|---:|---:|---:|---:|---:|---:|---:|".into());
    line(format!(
        "| exact | - | {:.2} | {:.2} | 100% | {exact_hit:.2}% | 100% | {:.2} |",
        percentile(&exact_times, 0.5),
        percentile(&exact_times, 0.99),
        percentile(&exact_stranger_times, 0.5)
    ));
    let mut agreement_default = 0.0;
    let mut p50_default = 0.0;
    let mut p99_default = 0.0;
    let mut hit_default = 0.0;
    for &probes in &sweep {
        ivf.set_probes(probes);
        let (times, answers) = run_queries(&ivf, &enrolled)?;
        let (stranger_times, strangers_answers) = run_queries(&ivf, &strangers)?;
        // Agreement where it matters: of the enrolled queries that exact
        // search answers with the right person, how many the index answers
        // with the same face (a query exact search gets wrong has a
        // near-tied stranger at rank 1, an arbitrary pick).
        let (mut agree, mut exact_right) = (0, 0);
        for ((a, e), q) in answers.iter().zip(&exact_answers).zip(&enrolled) {
            let right = e.as_ref().and_then(|e| person_of(&e.0)) == q.person;
            exact_right += usize::from(right);
            match (a, e) {
                (Some(a), Some(e)) if a.0 == e.0 => {
                    if a.1 != e.1 {
                        return Err(format!("{}: score {} vs exact {}", a.0, a.1, e.1).into());
                    }
                    agree += usize::from(right);
                }
                (Some(a), Some(e)) if a.1 > e.1 => {
                    return Err(format!("approximate beat exact: {a:?} vs {e:?}").into());
                }
                _ => {}
            }
        }
        let same_strangers = strangers_answers
            .iter()
            .zip(&exact_strangers)
            .filter(|(a, e)| a == e)
            .count();
        let agreement = agree as f64 / exact_right.max(1) as f64 * 100.0;
        let hit_rate = hit(&answers);
        let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
        line(format!(
            "| ivf | {probes} | {p50:.2} | {p99:.2} | {agreement:.2}% | {hit_rate:.2}% | {:.1}% | {:.2} |",
            same_strangers as f64 / strangers.len().max(1) as f64 * 100.0,
            percentile(&stranger_times, 0.5)
        ));
        if probes == default_probes {
            (agreement_default, p50_default, p99_default, hit_default) =
                (agreement, p50, p99, hit_rate);
        }
    }
    ivf.set_probes(default_probes);
    drop(ivf);
    line(String::new());
    line(format!(
        "p50 ms: {p50_default:.2} (exact {:.2})",
        percentile(&exact_times, 0.5)
    ));
    line(format!(
        "p99 ms: {p99_default:.2} (exact {:.2})",
        percentile(&exact_times, 0.99)
    ));
    line(format!(
        "rank-1 agreement: {agreement_default:.2}% of the {:.0} enrolled queries exact search answers with the right person",
        exact_hit * enrolled.len() as f64 / 100.0
    ));
    line(format!(
        "enrolled hit rate: {hit_default:.2}% (exact {exact_hit:.2}%)"
    ));
    line(format!(
        "bytes per face: {ivf_bytes:.0} (exact {exact_bytes:.0})"
    ));
    line(format!("build s: {ivf_build:.1} (exact {exact_build:.1})"));

    if args.store {
        let (load, p50, p99) = restart(&ids, &data, &enrolled, &mut line)?;
        line(format!(
            "load s: {load:.1} (restart from the redb data file, index built, first search answered)"
        ));
        line(format!(
            "after the restart, re-scoring from redb: p50 ms {p50:.2}, p99 ms {p99:.2}"
        ));
    }
    if let Some(out) = &args.out {
        let mut f = std::fs::File::create(out)?;
        writeln!(f, "# search-bench, {n} faces\n\n```\n{report}```")?;
    }
    Ok(())
}

/// Writes the collection to a redb data file, loads it once (training and
/// saving the lists, as the first load after an import does), then reopens
/// it as a restarted server would and loads it again. Returns the
/// load time and query latencies with exact rows read from redb.
fn restart(
    ids: &[String],
    data: &[f32],
    queries: &[Query],
    line: &mut impl FnMut(String),
) -> Result<(f64, f64, f64)> {
    let dir = std::env::temp_dir().join(format!("facecore-search-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("facecore.redb");
    {
        let store = Store::open(&path)?;
        store.create_collection("bench", "faces", None)?;
        let started = Instant::now();
        let mut written = 0;
        for (chunk, rows) in ids.chunks(20_000).zip(data.chunks(20_000 * DIM)) {
            let faces = chunk
                .iter()
                .zip(rows.chunks_exact(DIM))
                .map(|(_, v)| NewFace {
                    model: MODEL.into(),
                    embedding: v.to_vec(),
                    bounding_box: [10, 20, 100, 120],
                    confidence: 0.99,
                    source: None,
                    ..NewFace::default()
                })
                .collect();
            written += store.insert_faces("bench", "faces", None, faces)?.len();
            eprint!("\r  writing the data file: {written}/{}", ids.len());
        }
        eprintln!();
        line(format!(
            "data file: {} faces written in {:.1} s, {:.2} GB",
            ids.len(),
            started.elapsed().as_secs_f64(),
            std::fs::metadata(&path)?.len() as f64 / 1e9
        ));
    }
    // The first load of the written collection trains its lists and
    // saves them; a restart after it places the faces on the saved model.
    let load = |what: &str, line: &mut dyn FnMut(String)| -> Result<_> {
        let started = Instant::now();
        let store = Arc::new(Store::open(&path)?);
        let rows = Arc::new(facecore_store::collections::CollectionRows::new(
            Arc::clone(&store),
            "bench",
            "faces",
        ));
        let (_, index, report) = store
            .load_index("bench", "faces", MODEL, DIM, rows)?
            .ok_or("the collection is missing")?;
        let first = index.best(&queries[0].vector)?;
        let seconds = started.elapsed().as_secs_f64();
        line(format!(
            "{what}: {seconds:.1} s to the first answer ({} index of {} faces, lists {:?}, training {:.1} s, best cosine {:.3})",
            if index.is_approximate() {
                "approximate"
            } else {
                "exact"
            },
            report.faces,
            report.model,
            report.train_seconds,
            first.map_or(f32::NAN, |f| f.1)
        ));
        Ok((store, index, seconds))
    };
    drop(load("first load", line)?);
    let (store, index, load) = load("restart", line)?;
    let (times, _) = run_queries(&index, queries)?;
    drop(index);
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok((load, percentile(&times, 0.5), percentile(&times, 0.99)))
}

fn write_f32(path: &std::path::Path, values: impl Iterator<Item = f32>) -> Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for v in values {
        w.write_all(&v.to_le_bytes())?;
    }
    w.flush()?;
    Ok(())
}

/// Writes the data set for other libraries (see `Args::dump`).
fn dump(
    dir: &std::path::Path,
    ids: &[String],
    data: &[f32],
    enrolled: &[Query],
    strangers: &[Query],
) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    write_f32(&dir.join("base.f32"), data.iter().copied())?;
    write_f32(
        &dir.join("enrolled.f32"),
        enrolled.iter().flat_map(|q| q.vector.iter().copied()),
    )?;
    write_f32(
        &dir.join("strangers.f32"),
        strangers.iter().flat_map(|q| q.vector.iter().copied()),
    )?;
    let mut persons = String::new();
    for id in ids {
        persons.push_str(&format!("{}\n", person_of(id).unwrap_or(u32::MAX)));
    }
    persons.push_str("queries\n");
    for q in enrolled {
        persons.push_str(&format!("{}\n", q.person.unwrap_or(u32::MAX)));
    }
    std::fs::write(dir.join("persons.txt"), persons)?;
    Ok(())
}
