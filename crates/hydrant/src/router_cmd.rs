//! `hydrant router`: the Fargate-compatible log router. This version validates
//! configurations (`--check`); the runtime (tail, kubernetes filter, outputs) comes next.

use std::path::PathBuf;

use hydrant_router::config::{check_with, LoadOptions};

/// Arguments of `hydrant router`.
#[derive(clap::Args)]
pub struct Args {
    /// A Fluent Bit classic config, a Fluent Bit YAML config, or the `aws-logging`
    /// ConfigMap YAML itself (detected).
    #[arg(long)]
    config: PathBuf,
    /// Directory for positions and buffers [default: ./hydrant-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// With a ConfigMap: the files the managed Fargate input tails, instead of
    /// /var/log/containers/*.log (to run outside Fargate).
    #[arg(long)]
    input_path: Option<PathBuf>,
    /// Validate the configuration (with Fargate's rules for a ConfigMap), print what it
    /// sets up, and exit.
    #[arg(long)]
    check: bool,
}

/// Validates (`--check`); running the pipeline is not available yet.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    let options = LoadOptions {
        input_path: args.input_path,
        input_db: args.data_dir.map(|d| d.join("router").join("flb_kube.db")),
        ..LoadOptions::default()
    };
    match check_with(&args.config, &options) {
        Ok(summary) if args.check => {
            println!("{summary}");
            Ok(std::process::ExitCode::SUCCESS)
        }
        Ok(_) => {
            eprintln!(
                "hydrant router: the configuration is valid, but this version of Hydrant can only check it \
                 (--check); the router's runtime is not implemented yet"
            );
            Ok(std::process::ExitCode::from(2))
        }
        Err(errors) => {
            for e in errors.errors() {
                eprintln!("{e}");
            }
            eprintln!("hydrant router: {} configuration error(s)", errors.len());
            Ok(std::process::ExitCode::FAILURE)
        }
    }
}
