//! `berth`: the binary. Composition root (config, tracing, signals, wiring) and the CLI.
//!
//! - [`cli`]: the clap command tree.
//! - [`serve`]: `berth serve` — opens the store, repairs sessions, runs the gateway.
//! - [`paths`]: XDG data directory and the 0600 token file.
//! - [`agents`]: the agent catalog and the agents' environment allow-list.
//! - [`client`]: the CLI's HTTP client for the public API (`sessions`, `new`, `send`, `answer`).
//! - [`attach`]: `berth attach`, a terminal viewport that resumes by cursor.

mod agents;
mod attach;
mod cli;
mod client;
mod paths;
mod serve;

use clap::Parser;

use crate::cli::{AgentCommand, Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // A built-in agent is one small pipeline on stdio: one thread avoids the cross-thread
    // wakeups that dominated its profile (each message hops between the ACP crate's
    // tasks). The server and the CLI get the multi-threaded runtime.
    let runtime = match &cli.command {
        Command::Agent { .. } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        _ => tokio::runtime::Runtime::new(),
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("berth: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Don't let a stuck blocking read (stdin) keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // A sentence for the user, not a backtrace.
            eprintln!("berth: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A status as the protocol spells it (`awaiting_input`).
pub(crate) fn status_name(status: berth_protocol::Status) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Agent {
            agent: AgentCommand::Demo,
        } => {
            // stdout carries the protocol: logs go to stderr only.
            init_tracing();
            berth_agent::demo::run_stdio().await?;
            Ok(())
        }
        Command::Token(args) => {
            let data_dir = paths::data_dir(args.data_dir.as_deref())?;
            println!("{}", paths::load_or_create_token(&data_dir)?.expose());
            Ok(())
        }
        Command::Sessions(args) => client::sessions(args).await,
        Command::New(args) => client::new_session(args).await,
        Command::Send(args) => client::send(args).await,
        Command::Answer(args) => client::answer(args).await,
        Command::Cancel(args) => client::cancel(args).await,
        Command::Attach(args) => attach::run(args).await,
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `info`).
pub(crate) fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
