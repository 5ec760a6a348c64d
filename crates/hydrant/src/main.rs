//! `hydrant`: one binary for every box of the pipeline.

mod certs;
mod firehose_cmd;
mod intake_cmd;
mod router_cmd;
mod signals;
mod up_cmd;

use clap::{Parser, Subcommand};

// Large request buffers come and go on every Put; glibc's malloc hands them back to the
// kernel and takes fresh zeroed pages on the next request, which profiled as a quarter of
// the ingest CPU. mimalloc keeps and reuses them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Hydrant: a self-hosted log delivery pipeline (Fargate log router, Firehose, Datadog logs intake).
#[derive(Parser)]
#[command(name = "hydrant", version, about)]
struct Cli {
    /// Log format: `text` or `json`.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Kinesis Data Firehose-compatible delivery service.
    Firehose(firehose_cmd::Args),
    /// Run the Datadog-compatible logs intake (receivers, pipelines, search, explorer).
    Intake(intake_cmd::Args),
    /// Run the Fargate-compatible log router (Fluent Bit config or the aws-logging ConfigMap).
    Router(router_cmd::Args),
    /// Run the seed's whole flow on this machine: router, firehose and intake, with the
    /// simulated sample app.
    Up(up_cmd::Args),
    /// Make a local CA and a server certificate signed by it, for development TLS.
    DevCerts(certs::Args),
}

/// The allocator options each command runs with. mimalloc reads them from the environment
/// as the process starts, before `main`, so the process runs itself again with them set
/// (unless the operator set any of them).
///
/// - The router (and `hydrant up`, which runs one): Fargate budgets 50 MB for the log
///   router. With arenas committed eagerly (mimalloc's default on Linux) freed pages are
///   never handed back, and the router's churn (records read on one thread, freed on
///   another once delivered) keeps about twice the memory resident under load: 97-109 MB
///   peak through kinesis_firehose. Committing lazily and purging freed pages after 1 ms
///   brings that to 36 MB for 15% more CPU on that path (none measurable through the null
///   output); memory is the budget that kills a Fargate router (BENCHMARKS.md, router).
/// - The firehose: [`hydrant_firehose::ALLOCATOR_OPTIONS`] (freed memory kept 10 s, not
///   1 s: the purge-and-refault round every second stalled Puts).
/// - The intake: [`hydrant_intake::ALLOCATOR_OPTIONS`] (kept 10 s, then `MADV_FREE`: pages
///   handed back and faulted in again cost ~20% of its CPU per log).
fn allocator_options(command: &Command) -> &'static [(&'static str, &'static str)] {
    match command {
        Command::Router(_) | Command::Up(_) => &[("MIMALLOC_ARENA_EAGER_COMMIT", "0"), ("MIMALLOC_PURGE_DELAY", "1")],
        Command::Firehose(_) => hydrant_firehose::ALLOCATOR_OPTIONS,
        Command::Intake(_) => hydrant_intake::ALLOCATOR_OPTIONS,
        Command::DevCerts(_) => &[],
    }
}

/// Runs this process again with `options` in its environment, unless it has any of them.
fn reexec_with_allocator_options(options: &[(&str, &str)]) {
    if options.is_empty() || options.iter().any(|(k, _)| std::env::var_os(k).is_some()) {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    use std::os::unix::process::CommandExt;
    // `exec` only returns on failure; the process then runs with mimalloc's defaults.
    let err = std::process::Command::new(exe).args(std::env::args_os().skip(1)).envs(options.iter().copied()).exec();
    eprintln!("hydrant: could not re-execute with the allocator options ({err}); continuing");
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HYDRANT_LOG")
        // The AWS SDK logs every credential provider it builds at info: noise for operators.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,aws_config=warn"));
    // Colours only for a person at a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    // The router's own events also become records when it ships them (`flb_log_cw`).
    let registry = tracing_subscriber::registry().with(filter).with(hydrant_router::own_logs::OwnLogsLayer);
    if format == "json" {
        registry.with(fmt.json()).init();
    } else {
        registry.with(fmt).init();
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    reexec_with_allocator_options(allocator_options(&cli.command));
    init_logging(&cli.log_format);
    // More than one rustls crypto provider is compiled in (the AWS SDK brings aws-lc-rs);
    // rustls then refuses to guess, so every TLS user in the process gets ring, chosen once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ok = std::process::ExitCode::SUCCESS;
    match cli.command {
        Command::Router(args) => router_cmd::run(args),
        Command::Up(args) => up_cmd::run(args).map(|()| ok),
        Command::DevCerts(args) => certs::run(args).map(|()| ok),
        Command::Firehose(args) => runtime()?.block_on(firehose_cmd::run(args)).map(|()| ok),
        Command::Intake(args) => runtime()?.block_on(intake_cmd::run(args)).map(|()| ok),
    }
}
