//! `berth`: the binary. Composition root (config, tracing, signals, wiring) and the CLI.
//!
//! - [`cli`]: the clap command tree.
//! - [`serve`]: `berth serve` — opens the store, repairs sessions, runs the gateway.
//! - [`paths`]: XDG data directory and the 0600 token file.
//! - [`config`]: the config file and every default (ARCHITECTURE.md §5).
//! - [`agents`]: the agent registry (built-ins merged with the config file) and the
//!   environment each agent gets.
//! - [`client`]: the CLI's HTTP client for the public API (`sessions`, `new`, `send`,
//!   `answer`, `cancel`, `archive`).
//! - [`stop`]: `berth stop [--all]` (with no server up, the session hosts directly).
//! - [`attach`]: `berth attach`, a terminal viewport that resumes by cursor.
//! - [`host`]: `berth host <session>`, a session host (started by `berth serve`).

mod agents;
mod attach;
mod cli;
mod client;
mod config;
mod host;
mod paths;
mod serve;
mod stop;

use clap::Parser;

use crate::cli::{AgentCommand, Cli, ClientArgs, Command};
use crate::config::Config;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // A built-in agent is one small pipeline on stdio: one thread avoids the cross-thread
    // wakeups that dominated its profile (each message hops between the ACP crate's
    // tasks). The server and the CLI get the multi-threaded runtime.
    let runtime = match &cli.command {
        // A session host is small too: one thread keeps its footprint near the floor.
        Command::Agent { .. } | Command::Host(_) => tokio::runtime::Builder::new_current_thread()
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
    let mut command = cli.command;
    if let Command::Agent {
        agent: AgentCommand::Demo(args),
    } = command
    {
        // stdout carries the protocol: logs go to stderr only. No config: the server
        // already chose this agent's arguments and environment.
        init_tracing();
        let options = berth_agent::demo::DemoOptions {
            continues: match args.continues.as_str() {
                "load" => Some(berth_agent::demo::Continue::Load),
                "load-late" => Some(berth_agent::demo::Continue::LoadLate),
                "none" => None,
                _ => Some(berth_agent::demo::Continue::Resume),
            },
            require_auth: args.require_auth,
        };
        berth_agent::demo::run_stdio(options).await?;
        return Ok(());
    }
    if let Command::Host(args) = command {
        // Everything it needs comes from its server, on stdin.
        return host::run(args).await;
    }
    let config = Config::load(cli.config.as_deref())?;
    if let Some(client) = command.client_args() {
        fill_client_defaults(client, &config);
    }
    match command {
        Command::Serve(args) => serve::run(args, config).await,
        Command::Agent { .. } | Command::Host(_) => unreachable!("handled above"),
        Command::Agents(args) => agents::print(&agents::catalog(&config)?.infos(), args.json),
        Command::Config(args) => {
            let mut config = config;
            serve::apply_flags(&mut config, &args);
            // The directory itself, even where it is only the default.
            config.storage.data_dir = Some(paths::data_dir(None, &config)?);
            print!("{}", config.to_toml()?);
            Ok(())
        }
        Command::Token(args) => {
            let data_dir = paths::data_dir(args.data_dir.as_deref(), &config)?;
            println!("{}", paths::load_or_create_token(&data_dir)?.expose());
            Ok(())
        }
        Command::Sessions(args) => client::sessions(args).await,
        Command::New(args) => client::new_session(args).await,
        Command::Send(args) => client::send(args).await,
        Command::Answer(args) => client::answer(args).await,
        Command::Cancel(args) => client::cancel(args).await,
        Command::Stop(args) => stop::run(args, &config).await,
        Command::Archive(args) => client::set_archived(args, true).await,
        Command::Unarchive(args) => client::set_archived(args, false).await,
        Command::Attach(args) => attach::run(args).await,
    }
}

/// The CLI reaches the server the config file describes unless told otherwise.
fn fill_client_defaults(client: &mut ClientArgs, config: &Config) {
    if client.server.is_none() {
        let host = match config.server.host.as_str() {
            "0.0.0.0" | "::" | "[::]" => "127.0.0.1".to_owned(),
            host if host.contains(':') && !host.starts_with('[') => format!("[{host}]"),
            host => host.to_owned(),
        };
        client.server = Some(format!("http://{host}:{}", config.server.port));
    }
    if client.data_dir.is_none() {
        client.data_dir = config.storage.data_dir.clone();
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
