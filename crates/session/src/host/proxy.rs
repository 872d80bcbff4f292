//! The server side of a session host: a task behind the session's `SessionHandle` that
//! forwards the actor's requests to the host and turns the host's frames back into what
//! an in-process actor gives: replies, committed events on the session's hub (the host
//! committed them first: invariant 1 holds across the hop), summaries on the watch and
//! the bus. The server counts viewports, so `viewers` is this side's.

use std::collections::HashMap;
use std::sync::Arc;

use berth_protocol::Session;
use berth_store::StoredEvent;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{broadcast, mpsc, watch};

use super::launch::Connected;
use super::wire::{self, ToGateway, ToHost};
use crate::committed::Committed;
use crate::handle::{Delivered, Message, Reply};
use crate::hub::Hub;
use crate::registry::RegistryRef;
use crate::request::Request;
use crate::slots::{AgentSlots, SlotGuard};
use crate::summary::{SummaryBus, SummaryPublisher};
use crate::{SessionError, SessionHandle};

/// How the connection to a host ended.
pub(crate) enum Ended {
    /// The session went cold (or was deleted); its last summary.
    Bye(Box<Session>),
    /// The connection broke without a goodbye: the host may have crashed.
    Lost,
    /// Every handle is gone (the server is stopping): the host carries on alone.
    Dropped,
}

pub(crate) struct Proxy {
    id: Arc<str>,
    rx: mpsc::Receiver<Message>,
    reader: BufReader<OwnedReadHalf>,
    writer: BufWriter<OwnedWriteHalf>,
    pending: HashMap<u64, (Request, Reply)>,
    next_id: u64,
    summary: SummaryPublisher,
    hub: Arc<Hub>,
    live: Option<broadcast::Sender<Arc<Committed>>>,
    slots: Arc<AgentSlots>,
    /// The host's agent's slot in the server's table.
    slot: Option<SlotGuard>,
    /// A slot being waited for (`slot_wanted`).
    acquiring: Option<tokio::task::JoinHandle<SlotGuard>>,
}

/// A proxy for a host that welcomed this server, and the handle that leads to it.
pub(crate) fn start(
    connected: Connected,
    hub: Arc<Hub>,
    bus: SummaryBus,
    queue: usize,
    slots: Arc<AgentSlots>,
) -> (Proxy, SessionHandle) {
    let ToGateway::Welcome {
        session_id,
        mut summary,
        agent,
        ..
    } = connected.welcome
    else {
        unreachable!("`connect` returns only welcomed connections")
    };
    summary.viewers = hub.viewers();
    let (tx, rx) = mpsc::channel(queue.max(1));
    let (watch, summary_rx) = watch::channel(*summary);
    let id: Arc<str> = session_id.into();
    // A re-adopted host's running agent is counted again, even above the limit.
    let slot = agent.held.then(|| slots.adopt(id.clone(), agent.idle));
    let handle = SessionHandle {
        id: id.clone(),
        tx,
        summary: summary_rx,
        hub: hub.clone(),
    };
    let proxy = Proxy {
        id,
        rx,
        reader: connected.reader,
        writer: BufWriter::new(connected.writer),
        pending: HashMap::new(),
        next_id: 0,
        summary: SummaryPublisher::new(watch, bus),
        live: hub.sender(),
        hub,
        slots,
        slot,
        acquiring: None,
    };
    (proxy, handle)
}

impl Proxy {
    /// Serve until the host says goodbye or the connection ends, then tell the registry.
    pub(crate) async fn run(mut self, registry: RegistryRef) {
        let ended = self.serve().await;
        if let Some(acquiring) = self.acquiring.take() {
            acquiring.abort();
        }
        self.slot = None;
        // No request is taken from here on: what is queued goes back to its sender,
        // whose retry wakes the session's next host.
        self.rx.close();
        while let Ok(Message::Request(request, reply)) = self.rx.try_recv() {
            let _ = reply.send(Delivered::Returned(request));
        }
        let id = self.id.clone();
        match ended {
            Ended::Bye(mut summary) => {
                // Every request was answered before the host's goodbye.
                for (_, (request, reply)) in self.pending.drain() {
                    let _ = reply.send(Delivered::Returned(request));
                }
                summary.viewers = self.hub.viewers();
                registry.host_left(&id, *summary);
            }
            Ended::Lost => {
                for (_, (_, reply)) in self.pending.drain() {
                    let error = SessionError::Unavailable(
                        "the session host exited before answering".into(),
                    );
                    let _ = reply.send(Delivered::Answer(Err(error)));
                }
                registry.host_lost(&id).await;
            }
            Ended::Dropped => {}
        }
    }

    async fn serve(&mut self) -> Ended {
        let mut line = Vec::new();
        loop {
            tokio::select! {
                message = self.rx.recv() => match message {
                    Some(Message::Request(request, reply)) => {
                        let id = self.next_id;
                        self.next_id += 1;
                        if matches!(request, Request::Prompt { .. }) {
                            // So the host can say why its turn waits for an agent.
                            let table = ToHost::Slots {
                                all_busy: self.slots.all_busy(),
                                max: self.slots.max(),
                            };
                            if self.send(&table).await.is_err() {
                                return Ended::Lost;
                            }
                        }
                        let frame = ToHost::Request { id, request: request.clone() };
                        self.pending.insert(id, (request, reply));
                        if self.send(&frame).await.is_err() {
                            return Ended::Lost;
                        }
                    }
                    None => return Ended::Dropped,
                },
                frame = wire::read_frame::<ToGateway, _>(&mut self.reader, &mut line) => match frame {
                    Ok(Some(frame)) => {
                        if let Some(ended) = self.on_frame(frame) {
                            return ended;
                        }
                    }
                    Ok(None) => return Ended::Lost,
                    Err(error) => {
                        tracing::warn!(session = %self.id, %error, "a broken frame from the session host");
                        return Ended::Lost;
                    }
                },
                Some(granted) = wait_for(&mut self.acquiring) => {
                    self.acquiring = None;
                    if let Ok(slot) = granted {
                        self.slot = Some(slot);
                        if self.send(&ToHost::SlotGranted).await.is_err() {
                            return Ended::Lost;
                        }
                    }
                }
                _ = evicted(&self.slot) => {
                    if self.send(&ToHost::Evict).await.is_err() {
                        return Ended::Lost;
                    }
                }
                _ = self.hub.viewers_changed.notified() => {
                    let summary = self.summary.current();
                    self.publish(summary);
                }
            }
        }
    }

    fn on_frame(&mut self, frame: ToGateway) -> Option<Ended> {
        match frame {
            ToGateway::Event {
                seq,
                ts,
                kind,
                data,
            } => {
                let stored = StoredEvent {
                    seq,
                    ts,
                    kind,
                    data: data.0,
                };
                if let Some(live) = &self.live {
                    // No receivers is fine: nobody is looking.
                    let _ = live.send(Arc::new(Committed::from_stored(&self.id, stored)));
                }
            }
            ToGateway::Summary { summary } => self.publish(*summary),
            ToGateway::Reply { id, result } => {
                if let Some((_, reply)) = self.pending.remove(&id) {
                    let _ = reply.send(Delivered::Answer(result.into()));
                }
            }
            ToGateway::NotSent { id } => {
                if let Some((request, reply)) = self.pending.remove(&id) {
                    let _ = reply.send(Delivered::Returned(request));
                }
            }
            ToGateway::Bye { summary } => return Some(Ended::Bye(summary)),
            ToGateway::SlotWanted => {
                if self.slot.is_none() && self.acquiring.is_none() {
                    let slots = self.slots.clone();
                    let id = self.id.clone();
                    self.acquiring = Some(tokio::spawn(async move { slots.acquire(id).await }));
                }
            }
            ToGateway::SlotIdle { idle } => {
                if let Some(slot) = &self.slot {
                    slot.set_idle(idle);
                }
            }
            ToGateway::SlotReleased => self.slot = None,
            other => tracing::debug!(session = %self.id, ?other, "ignored"),
        }
        None
    }

    /// Written at once: requests and slot frames are small and rare next to events.
    async fn send(&mut self, frame: &ToHost) -> std::io::Result<()> {
        self.writer.write_all(&wire::encode(frame)).await?;
        self.writer.flush().await
    }

    /// The host's summary with this server's viewer count, to the watch and the bus
    /// (which throttles progress and viewer counts as it does an in-process actor's).
    fn publish(&mut self, mut summary: Session) {
        summary.viewers = self.hub.viewers();
        self.summary.update(summary);
    }
}

/// The slot being acquired, once it is; pending while none is.
async fn wait_for(
    acquiring: &mut Option<tokio::task::JoinHandle<SlotGuard>>,
) -> Option<Result<SlotGuard, tokio::task::JoinError>> {
    match acquiring {
        Some(task) => Some(task.await),
        None => std::future::pending().await,
    }
}

/// Another session asked for this host's slot; pending while it holds none.
async fn evicted(slot: &Option<SlotGuard>) {
    match slot {
        Some(slot) => slot.eviction().await,
        None => std::future::pending().await,
    }
}
