//! The `fjord` binary: `fjord serve [--config FILE] [--override key=value]...`; with no arguments
//! it serves with the embedded default (127.0.0.1:9092, data in ./data).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fjord_broker::{BrokerConfig, ConfigSources, RunningBroker};

#[derive(Debug, Parser)]
#[command(name = "fjord", version, about = "A Kafka-compatible log broker")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run a broker (the default when no command is given).
    Serve(ServeArgs),
}

#[derive(Debug, Default, clap::Args)]
struct ServeArgs {
    /// A TOML (.toml) or Java properties file with Kafka property names.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Sets one property, overriding the file and FJORD_* environment variables.
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

/// Exit code for configuration errors.
const CONFIG_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Cmd::Serve(args)) => args,
        None => ServeArgs::default(),
    };
    let sources = ConfigSources { file: args.config, env: std::env::vars().collect(), overrides: args.overrides };
    let config = match sources.merge().and_then(BrokerConfig::from_properties) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("fjord: invalid configuration: {e}");
            return ExitCode::from(CONFIG_ERROR);
        }
    };
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fjord: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fjord: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: BrokerConfig) -> anyhow::Result<()> {
    let broker = RunningBroker::start(config).await?;
    // Tests and scripts wait for this line to learn the bound port.
    println!("fjord listening on {}", broker.addr);
    wait_for_signal().await?;
    broker.shutdown().await?;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
