//! `facecore-server`: parses the configuration and runs the server.

use clap::Parser as _;

/// jemalloc, not glibc's malloc: the pipeline allocates buffers whose sizes
/// follow each photo's size, and glibc's adaptive mmap threshold then
/// fragments its heap without bound (`facecore index` on 10,000 varied
/// photos peaked at 1.2 GB RSS; with jemalloc, at the same speed, the peak
/// stays flat).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    let args = facecore_server::Args::parse();
    let config = match facecore_server::ServerConfig::from_args(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("facecore-server: invalid configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if args.healthcheck {
        let addr = facecore_server::healthcheck::probe_address(config.bind);
        return match facecore_server::healthcheck::check(addr, std::time::Duration::from_secs(3)) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("facecore-server: unhealthy: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    if args.print_config {
        print!("{}", config.to_toml());
        return std::process::ExitCode::SUCCESS;
    }
    // Log lines (one per request) are collected in memory and written in
    // batches by a thread of their own (see `log_output`). Nothing is
    // dropped; the guard writes what is left when `main` returns.
    let (writer, _flush_at_exit) = match facecore_server::log_output::batched(
        std::io::stdout(),
        facecore_server::log_output::BatchedOutput::default(),
    ) {
        Ok(output) => output,
        Err(e) => {
            eprintln!("facecore-server: cannot start the log writer: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let logs = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(writer)
        .with_target(false);
    if config.log_json {
        logs.json().flatten_event(true).init();
    } else {
        logs.init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("facecore-server: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(facecore_server::run(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("facecore-server: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
