//! `berth serve`: the composition root. Reads flags and environment, opens the store,
//! repairs sessions, binds, serves until SIGINT/SIGTERM, then shuts down in order:
//! stop accepting, close viewports, close turns and stop agents, flush the store.

use std::time::Duration;

use anyhow::Context;
use berth_server::{ServerConfig, Token};
use berth_session::{Registry, SessionConfig};
use berth_store::{Store, StoreConfig, Synchronous};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cli::ServeArgs;
use crate::{agents, paths};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    crate::init_tracing();
    let data_dir = paths::data_dir(args.data_dir.as_deref())?;
    paths::create_private_dir(&data_dir)?;
    let token = match args.token.as_deref().map(str::trim) {
        Some(token) if !token.is_empty() => Token::new(token),
        _ => paths::load_or_create_token(&data_dir)?,
    };
    let store = Store::open(StoreConfig {
        path: data_dir.join("berth.db"),
        synchronous: parse_synchronous(&args.synchronous)?,
        max_batch: 512,
    })
    .context("opening the event store")?;
    let mut session_config = SessionConfig::new(data_dir.clone());
    session_config.cancel_grace = Duration::from_secs(args.cancel_grace);
    session_config.prompt_timeout = args.prompt_timeout.map(Duration::from_secs);
    // Repairs the previous run's state before anything can answer /health.
    let registry = Registry::open(store.clone(), session_config, agents::catalog()?)
        .await
        .context("loading sessions")?;

    let listener = TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("binding {}:{}", args.host, args.port))?;
    let addr = listener.local_addr()?;
    let mut config = ServerConfig::new(token.clone(), &args.host);
    for host in &args.allowed_hosts {
        let host = host.trim().to_ascii_lowercase();
        if !host.is_empty() {
            config.allowed_hosts.push(host);
        }
    }
    config.write_timeout = Duration::from_secs(args.write_timeout.max(1));
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
        config,
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

fn parse_synchronous(value: &str) -> anyhow::Result<Synchronous> {
    Ok(match value.to_ascii_lowercase().as_str() {
        "off" => Synchronous::Off,
        "normal" => Synchronous::Normal,
        "full" => Synchronous::Full,
        "extra" => Synchronous::Extra,
        other => anyhow::bail!("--synchronous must be off, normal, full or extra, not `{other}`"),
    })
}
