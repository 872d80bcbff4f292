//! Stopping the hosts no server drives: `berth stop --all` while `berth serve` is down.
//!
//! Each live host (a held lease) gets a control connection (see [`super::wire`]): `stop`
//! (its agent stops; a running turn ends cancelled and its pending prompts with it, all
//! in the log as a user's stop), then `detach` (no linger: the host exits as soon as the
//! session is cold). The answer is the host's `bye`, with the session as it went cold.

use std::path::Path;
use std::time::Duration;

use berth_protocol::Session;
use berth_store::Store;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;

use super::launch;
use super::lease;
use super::wire::{self, ToGateway, ToHost, WireResult};
use crate::request::Request;

/// Stop every live host under `data_dir`, each within `wait`; one entry per host:
/// its session id and the session as it went cold, or why it was not stopped.
/// `store` (the same file the hosts write) names each session's directory.
pub async fn stop_unserved(
    data_dir: &Path,
    store: &Store,
    wait: Duration,
) -> Vec<(String, Result<Session, String>)> {
    let mut stops = JoinSet::new();
    for id in lease::list(data_dir) {
        if !lease::is_held(&lease::lease_path(data_dir, &id)) {
            continue;
        }
        let store = store.clone();
        let sessions = data_dir.join("sessions");
        stops.spawn(async move {
            let stopped = match store.get_session(&id).await {
                Ok(row) => {
                    let dir = sessions.join(&row.slug);
                    tokio::time::timeout(wait, stop_one(&dir))
                        .await
                        .unwrap_or_else(|_| {
                            Err(format!("the host did not go within {}s", wait.as_secs()))
                        })
                }
                Err(e) => Err(format!("not in the store: {e}")),
            };
            (id, stopped)
        });
    }
    let mut stopped = stops.join_all().await;
    stopped.sort_by(|a, b| a.0.cmp(&b.0));
    stopped
}

async fn stop_one(dir: &Path) -> Result<Session, String> {
    let mut connected = launch::connect_as(dir, true).await?;
    for (id, request) in [(1, Request::Stop), (2, Request::Detach)] {
        connected
            .writer
            .write_all(&wire::encode(&ToHost::Request { id, request }))
            .await
            .map_err(|e| format!("the session host hung up: {e}"))?;
    }
    let mut line = Vec::new();
    loop {
        let frame = wire::read_frame(&mut connected.reader, &mut line)
            .await
            .map_err(|e| format!("the session host answered garbage: {e}"))?;
        match frame {
            Some(ToGateway::Bye { summary }) => return Ok(*summary),
            Some(ToGateway::Reply {
                result: WireResult::Err(error),
                ..
            }) => return Err(error.message),
            Some(_) => {}
            None => return Err("the session host hung up before its goodbye".into()),
        }
    }
}
