//! The `fjord` binary: `fjord serve [--config FILE] [--override key=value]...`; with no arguments
//! it serves with the embedded default (127.0.0.1:9092, data in ./data). `fjord groups ...`
//! inspects and resets consumer groups on a running broker, `fjord transactions ...` lists,
//! describes and aborts transactions.

mod client;
mod groups;
mod time;
mod transactions;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fjord_broker::config::LogFormat;
use fjord_broker::{BrokerConfig, ConfigSources, Starting};

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
    /// Consumer groups on a running broker: list, describe, reset offsets.
    Groups(GroupsArgs),
    /// Transactions on a running broker: list, describe, producers, abort.
    Transactions(TransactionsArgs),
}

#[derive(Debug, clap::Args)]
struct TransactionsArgs {
    /// The broker to ask.
    #[arg(long, global = true, default_value = "127.0.0.1:9092", value_name = "HOST:PORT")]
    bootstrap_server: String,
    #[command(subcommand)]
    command: TransactionsCmd,
}

#[derive(Debug, Subcommand)]
enum TransactionsCmd {
    /// Every transactional id of the cluster with its producer id and state.
    List {
        /// Only ids in this state (Empty, Ongoing, PrepareCommit, ...); may be repeated.
        #[arg(long)]
        state: Vec<String>,
        /// Only transactions open longer than this.
        #[arg(long, value_name = "MS")]
        min_duration_ms: Option<i64>,
    },
    /// A transactional id as its coordinator sees it.
    Describe { transactional_id: String },
    /// The producers that wrote to a partition, with their open transactions' first offsets.
    Producers {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        partition: i32,
    },
    /// Writes an abort marker for a hanging transaction in a partition.
    Abort {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        partition: i32,
        #[command(flatten)]
        target: transactions::AbortTarget,
    },
}

#[derive(Debug, clap::Args)]
struct GroupsArgs {
    /// The broker to ask.
    #[arg(long, global = true, default_value = "127.0.0.1:9092", value_name = "HOST:PORT")]
    bootstrap_server: String,
    #[command(subcommand)]
    command: GroupsCmd,
}

#[derive(Debug, Subcommand)]
enum GroupsCmd {
    /// Every group with its state.
    List,
    /// A group's members, assignments, committed offsets, end offsets and lag.
    Describe { group: String },
    /// Moves a group's committed offsets for a topic; the group must have no active members.
    Reset {
        group: String,
        #[arg(long)]
        topic: String,
        #[command(flatten)]
        target: groups::Target,
        /// Print the new offsets without committing them.
        #[arg(long)]
        dry_run: bool,
    },
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

/// mimalloc keeps freed memory for reuse: a broker that allocates a fetch-sized buffer per
/// response would otherwise map, fault in and zero fresh pages for every one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for configuration errors.
const CONFIG_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Cmd::Serve(args)) => args,
        Some(Cmd::Groups(args)) => return run_groups(args),
        Some(Cmd::Transactions(args)) => return run_transactions(args),
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
    if let Err(e) = init_tracing(&config) {
        eprintln!("fjord: invalid configuration: {e}");
        return ExitCode::from(CONFIG_ERROR);
    }
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

fn run_groups(args: GroupsArgs) -> ExitCode {
    let server = args.bootstrap_server.as_str();
    let done = match &args.command {
        GroupsCmd::List => groups::list(server),
        GroupsCmd::Describe { group } => groups::describe(server, group),
        GroupsCmd::Reset { group, topic, target, dry_run } => {
            let now_ms =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            groups::reset(server, group, topic, target, *dry_run, now_ms)
        }
    };
    exit_code(done)
}

fn run_transactions(args: TransactionsArgs) -> ExitCode {
    let server = args.bootstrap_server.as_str();
    exit_code(match &args.command {
        TransactionsCmd::List { state, min_duration_ms } => transactions::list(server, state, *min_duration_ms),
        TransactionsCmd::Describe { transactional_id } => transactions::describe(server, transactional_id),
        TransactionsCmd::Producers { topic, partition } => transactions::producers(server, topic, *partition),
        TransactionsCmd::Abort { topic, partition, target } => transactions::abort(server, topic, *partition, target),
    })
}

fn exit_code(done: anyhow::Result<()>) -> ExitCode {
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fjord: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn stopped_before_serving() -> anyhow::Result<()> {
    eprintln!("fjord: stopped by a signal before serving");
    Ok(())
}

async fn serve(config: BrokerConfig) -> anyhow::Result<()> {
    // Handlers first: a SIGTERM that arrives as soon as the address is printed must shut down
    // cleanly, not meet the default action.
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let starting = Starting::begin(config).await?;
    // Tests and scripts wait for these lines to learn the bound ports; the HTTP endpoint answers
    // (/ready: 503) while the logs are recovered.
    if let Some(addr) = starting.http_addr() {
        println!("fjord http listening on {addr}");
    }
    // A cluster node waits here for a quorum of its voters, possibly for long: a signal meanwhile
    // stops it (what it had written is durable; recovery runs again at the next start).
    let broker = tokio::select! {
        started = starting.finish() => started?,
        _ = term.recv() => return stopped_before_serving(),
        _ = int.recv() => return stopped_before_serving(),
    };
    println!("fjord listening on {}", broker.addr);
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    broker.shutdown().await?;
    Ok(())
}

/// Log lines on stderr: RUST_LOG when set, else `log.level`; `log.format` picks the shape.
fn init_tracing(config: &BrokerConfig) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => {
            tracing_subscriber::EnvFilter::try_new(&directives).map_err(|e| format!("RUST_LOG='{directives}': {e}"))?
        }
        _ => {
            // openraft narrates every election at info and repeats an unreachable peer twice a
            // second at error; Fjord logs what an operator acts on itself (elections won, peers
            // unreachable and back, storage failures). A level naming openraft explicitly wins.
            let mut directives = config.log_level.clone();
            if !directives.contains("openraft") {
                directives.push_str(",openraft=off");
            }
            tracing_subscriber::EnvFilter::try_new(&directives)
                .map_err(|e| format!("property 'log.level' = '{}': {e}", config.log_level))?
        }
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match config.log_format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).init(),
    }
    Ok(())
}
