//! Where tract spends its time in one ONNX model: every node of the optimised
//! plan is timed over many runs, and the totals are printed per node and per
//! operator kind, slowest first. A tool for the speed work of the pipeline.
//! The model is parsed by plain tract-onnx: the embedding crate's PReLU
//! rewrite is not applied here, so its PReLUs show tract's own cost.
//!
//! ```text
//! cargo run --release -p facecore-tract --example op-profile -- \
//!     models/fr_detect.onnx 1,3,240,320 [RUNS]
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tract_onnx::prelude::tract_ndarray::Dimension;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::{SimpleState, eval};

/// The allocator of the shipped binaries: with glibc's, buffers of a few MB
/// freed and taken again on every run are often faulted in anew, which
/// shows up as time in whichever node allocates them.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: op-profile MODEL.onnx N,C,H,W [RUNS]");
        std::process::exit(2);
    }
    let shape: Vec<usize> = args[2]
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let runs: usize = args
        .get(3)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200)
        .max(1);
    let mut model = tract_onnx::onnx()
        .model_for_path(&args[1])?
        .with_input_fact(0, f32::fact(&shape).into())?
        .into_typed()?
        .into_decluttered()?;
    // As facecore loads its models (FACECORE_TRACT_DEPTHWISE=1: tract's
    // own depthwise convolutions, FACECORE_TRACT_CONV3X3=1 its full 3x3
    // ones, FACECORE_TRACT_POINTWISE=1 its 1x1 ones, to compare).
    if std::env::var_os("FACECORE_TRACT_DEPTHWISE").is_none() {
        let n = facecore_tract::replace_depthwise(&mut model)?;
        println!("{n} depthwise convolutions replaced");
    }
    if std::env::var_os("FACECORE_TRACT_CONV3X3").is_none() {
        let n = facecore_tract::replace_conv3x3(&mut model)?;
        println!("{n} full 3x3 convolutions replaced");
    }
    if std::env::var_os("FACECORE_TRACT_POINTWISE").is_none() {
        let n = facecore_tract::replace_pointwise(&mut model)?;
        println!("{n} pointwise convolutions replaced");
    }
    let model = model.into_optimized()?;
    let plan = model.into_runnable()?;
    let input: Tensor = tract_ndarray::ArrayD::<f32>::from_shape_fn(shape.clone(), |i| {
        let k: usize = i.slice().iter().sum();
        ((k % 17) as f32 - 8.0) / 8.0
    })
    .into();
    let mut state = SimpleState::new(&plan)?;
    let mut per_node: HashMap<usize, Duration> = HashMap::new();
    let mut whole = Vec::with_capacity(runs);
    for run in 0..runs + 5 {
        let started = Instant::now();
        state.run_plan_with_eval(tvec!(input.clone().into_tvalue()), |ctx, st, node, ins| {
            let t = Instant::now();
            let out = eval(ctx, st, node, ins);
            if run >= 5 {
                *per_node.entry(node.id).or_default() += t.elapsed();
            }
            out
        })?;
        if run >= 5 {
            whole.push(started.elapsed());
        }
    }
    whole.sort();
    let median = whole[whole.len() / 2];
    let total: Duration = per_node.values().sum();
    let model = plan.model();
    println!(
        "{}: median {:.3} ms per run ({} runs); node time sums to {:.3} ms per run",
        args[1],
        median.as_secs_f64() * 1e3,
        runs,
        total.as_secs_f64() * 1e3 / runs as f64
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / runs as f64;
    let mut by_kind: HashMap<String, (Duration, usize)> = HashMap::new();
    for (id, d) in &per_node {
        let kind = model.node(*id).op().name().to_string();
        let e = by_kind.entry(kind).or_default();
        e.0 += *d;
        e.1 += 1;
    }
    let mut kinds: Vec<_> = by_kind.into_iter().collect();
    kinds.sort_by_key(|k| std::cmp::Reverse(k.1.0));
    println!("\nper operator kind (ms per run, nodes):");
    for (kind, (d, n)) in kinds {
        println!("  {:>7.3}  {:>3}  {kind}", ms(d), n);
    }
    let mut nodes: Vec<_> = per_node.into_iter().collect();
    nodes.sort_by_key(|n| std::cmp::Reverse(n.1));
    println!("\nslowest nodes:");
    for (id, d) in nodes.into_iter().take(40) {
        let node = model.node(id);
        let facts: Vec<String> = model
            .node_input_facts(id)?
            .iter()
            .map(|f| format!("{:?}", f.shape))
            .collect();
        println!(
            "  {:>7.3}  #{id} {} {} in {}",
            ms(d),
            node.op().name(),
            node.name,
            facts.join(" ")
        );
        println!("           {}", node.op().info()?.join("; "));
    }
    Ok(())
}
