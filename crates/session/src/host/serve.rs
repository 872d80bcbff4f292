//! The host side: one session's actor in a process of its own, driven over a Unix
//! socket by whichever server connects last.
//!
//! Order of a start: lease (waiting for an exiting predecessor), store, actor (which
//! closes what a dead predecessor left open), socket, then `ready` for the server that
//! started it. Without a server the actor runs on: a turn finishes, prompts wait in the
//! log, and once the session goes cold (no agent, no turn) the host exits.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use berth_protocol::{Seq, ServerFrame, Session};
use berth_store::Store;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;

use super::lease::{self, Lease};
use super::slots::{RemoteSlots, SlotFrame};
use super::wire::{self, AgentSlotState, HOST_PROTOCOL, ToGateway, ToHost};
use super::{HostHome, HostSpec, SOCKET};
use crate::actor::{Actor, ActorInit, Home, LeftOpenBy};
use crate::hub::{Hub, ViewerGuard};
use crate::slots::Slots;
use crate::subscription::Subscription;
use crate::summary::SummaryBus;
use crate::{SessionError, SessionHandle};

/// How long a new host waits for the previous host of its session to exit.
const LEASE_WAIT: Duration = Duration::from_secs(30);
/// How long a server has to say hello once connected.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Events the host's live ring holds for the server's feed. Far deeper than a viewer's
/// ring: the actor broadcasts a landed batch in one go on this one thread, so a batch
/// longer than the ring always overran it, and the feed read the whole batch back from
/// the store (a sixth of the host's CPU at max rate). Costs memory only while the
/// server lags: the ring drops each event once the feed has taken it.
const FEED_RING: usize = 8192;
/// Frames queued for a server before the host stops reading its requests.
const WRITE_QUEUE: usize = 1024;

/// What every connection of this host shares.
struct Host {
    id: Arc<str>,
    handle: SessionHandle,
    store: Store,
    hub: Arc<Hub>,
    bus: SummaryBus,
    bye: watch::Receiver<Option<Session>>,
    pages: (usize, usize),
    slots: Arc<RemoteSlots>,
    /// Bumped by each server that completes a handshake: the one before it stops.
    driver: watch::Sender<u64>,
}

/// Run the host of `spec.session_id` until its session goes cold (or is deleted).
/// `ready` is called once a server can connect.
pub async fn serve(spec: HostSpec, ready: impl FnOnce()) -> Result<(), SessionError> {
    if !lease::is_session_id(&spec.session_id) {
        return Err(SessionError::BadRequest(format!(
            "`{}` is not a session id",
            spec.session_id
        )));
    }
    let data_dir = spec.config.data_dir.clone();
    let lease_path = lease::lease_path(&data_dir, &spec.session_id);
    let lease = tokio::task::spawn_blocking(move || Lease::acquire(&lease_path, LEASE_WAIT))
        .await
        .map_err(std::io::Error::other)??;
    let store = Store::open(spec.store.clone())?;
    let row = store.get_session(&spec.session_id).await?;
    let artifacts = data_dir.join("sessions").join(&row.slug);
    let config = Arc::new(spec.config);
    let hub = Hub::new(config.live_buffer.max(FEED_RING));
    let bus = SummaryBus::new(64, config.summary_interval);
    let (bye_tx, bye) = watch::channel(None);
    let slots = Arc::new(RemoteSlots::default());
    let init = ActorInit {
        row,
        store: store.clone(),
        config: config.clone(),
        entry: spec.agent.map(super::HostAgent::entry),
        bus: bus.clone(),
        artifacts: artifacts.clone(),
        created: false,
        hub: hub.clone(),
        slots: Slots::Remote(slots.clone()),
        home: Home::Host(HostHome {
            bye: bye_tx.clone(),
        }),
        left_open_by: LeftOpenBy::Host,
    };
    let (actor, handle) = Actor::open(init).await?;
    let mut actor = tokio::spawn(actor.run());

    // Bound by its relative name: a long data directory cannot exceed the 108-byte limit
    // of socket paths. The server connects the same way (`launch::connect`).
    std::env::set_current_dir(&artifacts)?;
    let _ = std::fs::remove_file(SOCKET);
    let listener = tokio::net::UnixListener::bind(SOCKET)?;
    std::fs::set_permissions(SOCKET, std::fs::Permissions::from_mode(0o600))?;
    tracing::info!(session = %handle.id(), pid = std::process::id(), "session host ready");
    ready();

    let host = Arc::new(Host {
        id: handle.id().into(),
        handle,
        store: store.clone(),
        hub,
        bus,
        bye,
        pages: (config.replay_page, config.live_batch),
        slots,
        driver: watch::Sender::new(0),
    });
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connect(host.clone(), stream));
                }
                Err(error) => tracing::warn!(%error, "accepting a server connection failed"),
            },
            Some(_) = connections.join_next() => {}
            _ = &mut actor => break,
        }
    }
    // The actor ended: cold (its `bye` is set) or deleted / shut down (set it now).
    if host.bye.borrow().is_none() {
        bye_tx.send_replace(Some(host.handle.summary()));
    }
    let goodbye = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), goodbye)
        .await
        .is_err()
    {
        tracing::warn!("the server did not take the goodbye in time");
    }
    let _ = std::fs::remove_file(SOCKET);
    store.close().await?;
    drop(lease);
    tracing::info!("session host exiting");
    Ok(())
}

/// One server's connection: handshake, then requests in; events, summaries and
/// replies out, until the server goes (the host carries on) or the session goes cold.
async fn connect(host: Arc<Host>, stream: UnixStream) {
    let (read, write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    let (out, out_rx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
    let writer = tokio::spawn(write_frames(BufWriter::new(write), out_rx));
    match tokio::time::timeout(HELLO_TIMEOUT, wire::read_frame(&mut reader, &mut line)).await {
        Ok(Ok(Some(ToHost::Hello {
            protocol,
            server_version,
            control,
        }))) => match wire::accepts(protocol) {
            Ok(()) if control => {
                tracing::info!(%server_version, "a control connection");
                serve_control(&host, &mut reader, &mut line, &out).await;
            }
            Ok(()) => {
                // One server at a time: a new one is a restarted server. Only a server
                // that passed the handshake replaces the one before it.
                host.driver.send_modify(|g| *g += 1);
                tracing::info!(%server_version, "a server connected");
                drive(&host, &mut reader, &mut line, &out).await;
            }
            Err(reason) => {
                tracing::warn!(%server_version, %reason, "not driven by this server");
                let _ = out
                    .send(wire::encode(&ToGateway::Incompatible {
                        protocol: HOST_PROTOCOL,
                        host_version: env!("CARGO_PKG_VERSION").into(),
                        reason,
                    }))
                    .await;
            }
        },
        Ok(Ok(None)) => {}
        Ok(Ok(Some(other))) => tracing::warn!(?other, "a server spoke before its hello"),
        Ok(Err(error)) => tracing::warn!(%error, "a broken hello"),
        Err(_) => tracing::warn!("a connection said no hello in time"),
    }
    drop(out);
    let _ = writer.await;
}

async fn drive(
    host: &Host,
    reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    line: &mut Vec<u8>,
    out: &mpsc::Sender<Vec<u8>>,
) {
    let mut summaries = host.bus.subscribe();
    let Some(live) = host.hub.subscribe() else {
        return;
    };
    let summary = host.handle.summary();
    // Events from the summary's seq on (the store covers any the watch trails by): a
    // viewport of the server that missed the hop between two servers reads the store.
    let mut sent: Seq = summary.last_seq;
    let viewer = ViewerGuard::new(host.hub.clone(), Box::new(|| {}));
    let mut events = Subscription::new(
        host.id.clone(),
        host.store.clone(),
        live,
        sent,
        host.pages,
        viewer,
    );
    let (slot_tx, mut slot_frames) = mpsc::unbounded_channel();
    let agent = host.slots.connected(slot_tx.clone());
    // However this connection ends, its slot frames stop (a start waiting grants itself).
    let _slots = Disconnect(&host.slots, slot_tx);
    let welcome = welcome(host, summary, agent);
    if out.send(wire::encode(&welcome)).await.is_err() {
        return;
    }
    let mut requests = JoinSet::new();
    let mut bye = host.bye.clone();
    let mut driver = host.driver.subscribe();
    driver.mark_unchanged();
    loop {
        tokio::select! {
            frame = wire::read_frame::<ToHost, _>(reader, line) => match frame {
                Ok(Some(ToHost::Request { id, request })) => {
                    requests.spawn(answer(host.handle.clone(), id, request));
                }
                Ok(Some(ToHost::SlotGranted)) => host.slots.on_frame(SlotFrame::Granted),
                Ok(Some(ToHost::Evict)) => host.slots.on_frame(SlotFrame::Evict),
                Ok(Some(ToHost::Slots { all_busy, max })) => {
                    host.slots.on_frame(SlotFrame::Table { all_busy, max })
                }
                Ok(Some(other)) => tracing::debug!(?other, "ignored"),
                Ok(None) => {
                    tracing::info!("the server went away; carrying on alone");
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "a broken frame from the server; dropping it");
                    return;
                }
            },
            Some(frame) = slot_frames.recv() => {
                if out.send(wire::encode(&frame)).await.is_err() {
                    return;
                }
            }
            Some(done) = requests.join_next() => {
                if let Ok(frame) = done && out.send(wire::encode(&frame)).await.is_err() {
                    return;
                }
            }
            batch = events.next_batch() => match batch {
                Ok(Some(batch)) => {
                    for event in batch {
                        sent = event.seq;
                        if out.send(event_line(&event)).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!(%error, "reading events for the server failed");
                    return;
                }
            },
            summary = summaries.recv() => {
                let summary = match summary {
                    Ok(frame) => match serde_json::from_slice::<ServerFrame>(&frame) {
                        Ok(ServerFrame::Session { summary }) => summary,
                        _ => continue,
                    },
                    Err(broadcast::error::RecvError::Lagged(_)) => host.handle.summary(),
                    Err(broadcast::error::RecvError::Closed) => continue,
                };
                let frame = ToGateway::Summary { summary: Box::new(summary) };
                if out.send(wire::encode(&frame)).await.is_err() {
                    return;
                }
            }
            _ = async { drop(bye.wait_for(Option::is_some).await) } => break,
            _ = driver.changed() => {
                tracing::info!("another server took over");
                return;
            }
        }
    }
    // Going cold: every answer, then every event, then `bye`.
    while let Some(done) = requests.join_next().await {
        if let Ok(frame) = done {
            let _ = out.send(wire::encode(&frame)).await;
        }
    }
    let last = host.bye.borrow().clone().expect("bye is set");
    while sent < last.last_seq {
        match tokio::time::timeout(Duration::from_secs(2), events.next_batch()).await {
            Ok(Ok(Some(batch))) => {
                for event in batch {
                    sent = event.seq;
                    let _ = out.send(event_line(&event)).await;
                }
            }
            _ => break,
        }
    }
    let _ = out
        .send(wire::encode(&ToGateway::Bye {
            summary: Box::new(last),
        }))
        .await;
}

/// A control connection: its requests answered, then `bye` once the session is cold.
/// It is not a driver: the server that drives this host (if any) carries on.
async fn serve_control(
    host: &Host,
    reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    line: &mut Vec<u8>,
    out: &mpsc::Sender<Vec<u8>>,
) {
    let welcome = welcome(host, host.handle.summary(), AgentSlotState::default());
    if out.send(wire::encode(&welcome)).await.is_err() {
        return;
    }
    let mut requests = JoinSet::new();
    let mut bye = host.bye.clone();
    loop {
        tokio::select! {
            frame = wire::read_frame::<ToHost, _>(reader, line) => match frame {
                Ok(Some(ToHost::Request { id, request })) => {
                    requests.spawn(answer(host.handle.clone(), id, request));
                }
                Ok(Some(other)) => tracing::debug!(?other, "ignored on a control connection"),
                Ok(None) | Err(_) => return,
            },
            Some(done) = requests.join_next() => {
                if let Ok(frame) = done && out.send(wire::encode(&frame)).await.is_err() {
                    return;
                }
            }
            _ = async { drop(bye.wait_for(Option::is_some).await) } => break,
        }
    }
    while let Some(done) = requests.join_next().await {
        if let Ok(frame) = done {
            let _ = out.send(wire::encode(&frame)).await;
        }
    }
    let last = host.bye.borrow().clone().expect("bye is set");
    let _ = out
        .send(wire::encode(&ToGateway::Bye {
            summary: Box::new(last),
        }))
        .await;
}

fn welcome(host: &Host, summary: Session, agent: AgentSlotState) -> ToGateway {
    ToGateway::Welcome {
        protocol: HOST_PROTOCOL,
        host_version: env!("CARGO_PKG_VERSION").into(),
        session_id: host.id.to_string(),
        pid: std::process::id(),
        summary: Box::new(summary),
        agent,
    }
}

/// One request for the actor, answered as a frame.
async fn answer(handle: SessionHandle, id: u64, request: crate::request::Request) -> ToGateway {
    match handle.send(request).await {
        Ok(result) => ToGateway::Reply {
            id,
            result: result.into(),
        },
        Err(_) => ToGateway::NotSent { id },
    }
}

fn event_line(event: &crate::Committed) -> Vec<u8> {
    wire::encode_event(event.seq, event.ts, kind_of(&event.data), &event.data)
}

/// The event's `type`: events serialise with their tag first (`{"type":"…",`).
fn kind_of(data: &str) -> &str {
    data.strip_prefix(r#"{"type":""#)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("event")
}

/// Everything queued goes out with one flush.
async fn write_frames(mut writer: BufWriter<OwnedWriteHalf>, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(line) = next.take() {
            if writer.write_all(&line).await.is_err() {
                return;
            }
            next = rx.try_recv().ok();
        }
        if writer.flush().await.is_err() {
            return;
        }
    }
}

/// Tells the slot table this connection's server is gone, when dropped.
struct Disconnect<'a>(&'a RemoteSlots, mpsc::UnboundedSender<ToGateway>);

impl Drop for Disconnect<'_> {
    fn drop(&mut self) {
        self.0.disconnected(&self.1);
    }
}
