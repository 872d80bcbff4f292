//! `berth stop`: stop one session's agent, or (`--all`) every session's.
//!
//! With the server up everything goes through REST like any viewport. With `--all` and
//! no server answering at all (connection refused, not an error answer), the session
//! hosts it left running are stopped directly over their sockets
//! (`berth_session::host::stop_unserved`): a server that is down cannot stop them, and a
//! user who wants everything gone should not have to start one first.

use std::time::Duration;

use anyhow::Context;
use berth_protocol::{Session, Status};
use berth_store::Store;

use crate::cli::StopArgs;
use crate::client::Client;
use crate::config::Config;
use crate::paths;

/// How long a host may take beyond the agent's kill grace to stop and say goodbye.
const HOST_STOP_MARGIN: Duration = Duration::from_secs(10);

pub async fn run(args: StopArgs, config: &Config) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let Some(reference) = &args.session else {
        return match client.all_sessions().await {
            Err(error) if unreachable(&error) => stop_unserved(&args, config).await,
            Err(error) => Err(error),
            Ok(sessions) => stop_all(&client, sessions, args.client.json).await,
        };
    };
    let session = client.resolve(reference).await?;
    let stopped = stop(&client, &session).await?;
    if args.client.json {
        println!("{}", serde_json::to_string_pretty(&stopped)?);
    } else if session.agent_running || stopped.agent_running {
        println!("stopping the agent of {} ({})", stopped.id, stopped.title);
    } else {
        println!("no agent was running in {} ({})", stopped.id, stopped.title);
    }
    Ok(())
}

async fn stop(client: &Client, session: &Session) -> anyhow::Result<Session> {
    client
        .post_bare(&format!("/sessions/{}/stop", session.id))
        .await
}

/// Every session with an agent or a turn, through the server.
async fn stop_all(client: &Client, sessions: Vec<Session>, json: bool) -> anyhow::Result<()> {
    let live: Vec<Session> = sessions
        .into_iter()
        .filter(|s| {
            s.agent_running
                || matches!(
                    s.status,
                    Status::Starting | Status::Running | Status::AwaitingInput
                )
        })
        .collect();
    let mut stopped = Vec::new();
    for session in &live {
        stopped.push(stop(client, session).await?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&stopped)?);
    } else if stopped.is_empty() {
        println!("no session had an agent running");
    } else {
        for s in &stopped {
            println!("stopping the agent of {} ({})", s.id, s.title);
        }
    }
    Ok(())
}

/// No server: stop the hosts directly.
async fn stop_unserved(args: &StopArgs, config: &Config) -> anyhow::Result<()> {
    let data_dir = paths::data_dir(args.client.data_dir.as_deref(), config)?;
    let store = Store::open(crate::serve::store_config(&data_dir, config)?)
        .context("opening the event store")?;
    let wait = Duration::from_secs(config.sessions.kill_grace_secs) + HOST_STOP_MARGIN;
    let results = berth_session::host::stop_unserved(&data_dir, &store, wait).await;
    store.close().await.context("closing the store")?;
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    if args.client.json {
        let stopped: Vec<&Session> = results
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .collect();
        println!("{}", serde_json::to_string_pretty(&stopped)?);
    } else if results.is_empty() {
        println!("no server is running and no session host is left");
    } else {
        println!("no server is running; stopping its session hosts directly");
    }
    for (id, result) in &results {
        match result {
            Ok(s) if !args.client.json => println!("stopped {} ({})", s.id, s.title),
            Ok(_) => {}
            Err(reason) => eprintln!("{id}: not stopped: {reason}"),
        }
    }
    anyhow::ensure!(failed == 0, "{failed} session host(s) could not be stopped");
    Ok(())
}

/// Whether nothing answered at the server's address (rather than an error answer).
fn unreachable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_connect)
    })
}
