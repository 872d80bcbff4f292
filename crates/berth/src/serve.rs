//! `berth serve`: the composition root. Reads flags and environment, opens the store,
//! repairs sessions, binds, serves until SIGINT/SIGTERM, then shuts down in order:
//! stop accepting, close viewports, close turns and stop agents, flush the store.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use berth_server::{ServerConfig, Token};
use berth_session::{Registry, SessionConfig};
use berth_store::{Store, StoreConfig, Synchronous};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cli::ServeArgs;
use crate::config::Config;
use crate::{agents, paths};

pub async fn run(args: ServeArgs, mut config: Config) -> anyhow::Result<()> {
    crate::init_tracing();
    apply_flags(&mut config, &args);
    let data_dir = paths::data_dir(args.data_dir.as_deref(), &config)?;
    paths::create_private_dir(&data_dir)?;
    let token = match args.token.as_deref().map(str::trim) {
        Some(token) if !token.is_empty() => Token::new(token),
        _ => paths::load_or_create_token(&data_dir)?,
    };
    // Checked before anything is opened: a bad allowed host fails the start at once.
    let server = &config.server;
    let mut server_config = ServerConfig::new(token.clone(), &server.host);
    for host in server.allowed_hosts.iter().filter(|h| !h.trim().is_empty()) {
        server_config
            .allow_host(host)
            .map_err(anyhow::Error::msg)
            .context("server.allowed_hosts")?;
    }
    server_config.write_timeout = Duration::from_secs(server.write_timeout_secs.max(1));
    let store =
        Store::open(store_config(&data_dir, &config)?).context("opening the event store")?;
    let sessions = &config.sessions;
    let mut session_config = SessionConfig::new(data_dir.clone());
    session_config.cancel_grace = Duration::from_secs(sessions.cancel_grace_secs);
    session_config.kill_grace = Duration::from_secs(sessions.kill_grace_secs);
    session_config.agent_start_timeout =
        Duration::from_secs(sessions.agent_start_timeout_secs.max(1));
    session_config.prompt_timeout = sessions.prompt_timeout_secs.map(Duration::from_secs);
    session_config.live_buffer = sessions.live_buffer;
    server_config.upload_limit = sessions.upload_max_mib.saturating_mul(1 << 20);
    session_config.max_live_agents = sessions.max_live_agents;
    session_config.agent_idle =
        (sessions.agent_idle_secs > 0).then(|| Duration::from_secs(sessions.agent_idle_secs));
    if sessions.hosts {
        // Hosts are this very binary: a server started from a replaced file starts new
        // hosts from the new one and drives the old ones if they speak its protocol.
        session_config.placement = berth_session::Placement::Hosts {
            program: std::env::current_exe().context("finding this program for session hosts")?,
        };
    }
    let catalog = agents::catalog(&config)?;
    for info in catalog.infos() {
        match &info.reason {
            None => tracing::info!(agent = %info.id, "agent available"),
            Some(reason) => tracing::info!(agent = %info.id, %reason, "agent not available"),
        }
    }
    // Repairs the previous run's state before anything can answer /health.
    let registry = Registry::open(store.clone(), session_config, catalog)
        .await
        .context("loading sessions")?;

    let listener = TcpListener::bind((server.host.as_str(), server.port))
        .await
        .with_context(|| format!("binding {}:{}", server.host, server.port))?;
    let addr = listener.local_addr()?;
    let url_host = match addr.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    // The startup URL is for the user's eyes (stdout), never the log.
    println!(
        "berth listening on http://{url_host}:{}/?token={}",
        addr.port(),
        token.expose()
    );
    tracing::info!(%addr, data_dir = %data_dir.display(), sessions = registry.list().len(), "berth started");

    let shutdown = CancellationToken::new();
    tokio::spawn(on_signal(shutdown.clone()));
    let mut server = tokio::spawn(berth_server::serve(
        listener,
        registry.clone(),
        server_config,
        shutdown.clone(),
    ));
    let mut server_done = false;
    tokio::select! {
        result = &mut server => {
            server_done = true;
            result.context("the server task failed")??;
        }
        _ = shutdown.cancelled() => {}
    }
    // The listener no longer accepts. Close turns and stop agents now, while open
    // connections drain: a client that never finishes its request cannot hold that up.
    tracing::info!("no longer accepting; stopping sessions");
    registry.shutdown().await;
    if !server_done {
        match tokio::time::timeout(DRAIN_TIMEOUT, &mut server).await {
            Ok(result) => result.context("the server task failed")??,
            Err(_) => {
                tracing::warn!("some connections did not close in time; stopping anyway");
                server.abort();
            }
        }
    }
    store.close().await.context("closing the store")?;
    tracing::info!("berth stopped");
    Ok(())
}

/// How long open HTTP connections may take to finish once shutdown began.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

async fn on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop berth with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    shutdown.cancel();
}

/// Flags and `BERTH_*` variables (clap reads both) win over the config file. `berth
/// config` prints the result, so everything `run` reads from `args` (but the token)
/// goes through here.
pub(crate) fn apply_flags(config: &mut Config, args: &ServeArgs) {
    if let Some(dir) = &args.data_dir {
        config.storage.data_dir = Some(dir.clone());
    }
    let server = &mut config.server;
    if let Some(host) = &args.host {
        server.host = host.clone();
    }
    if let Some(port) = args.port {
        server.port = port;
    }
    server
        .allowed_hosts
        .extend(args.allowed_hosts.iter().cloned());
    if let Some(timeout) = args.write_timeout {
        server.write_timeout_secs = timeout;
    }
    if let Some(synchronous) = &args.synchronous {
        config.storage.synchronous = synchronous.clone();
    }
    if let Some(grace) = args.cancel_grace {
        config.sessions.cancel_grace_secs = grace;
    }
    if args.prompt_timeout.is_some() {
        config.sessions.prompt_timeout_secs = args.prompt_timeout;
    }
    if let Some(max) = args.max_live_agents {
        config.sessions.max_live_agents = max;
    }
    if let Some(idle) = args.agent_idle {
        config.sessions.agent_idle_secs = idle;
    }
    if let Some(hosts) = args.hosts {
        config.sessions.hosts = hosts;
    }
}

/// The event store of `data_dir` as `config` opens it (the CLI opens it the same way).
pub(crate) fn store_config(data_dir: &Path, config: &Config) -> anyhow::Result<StoreConfig> {
    Ok(StoreConfig {
        path: data_dir.join("berth.db"),
        synchronous: parse_synchronous(&config.storage.synchronous)?,
        max_batch: config.storage.max_batch.max(1),
    })
}

fn parse_synchronous(value: &str) -> anyhow::Result<Synchronous> {
    Ok(match value.to_ascii_lowercase().as_str() {
        "off" => Synchronous::Off,
        "normal" => Synchronous::Normal,
        "full" => Synchronous::Full,
        "extra" => Synchronous::Extra,
        other => anyhow::bail!(
            "synchronous (--synchronous or storage.synchronous) must be off, normal, full or extra, not `{other}`"
        ),
    })
}
