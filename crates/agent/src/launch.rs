//! How an agent comes to be: launching is separate from speaking ACP to it.
//!
//! [`AgentLink::connect`](crate::AgentLink::connect) speaks ACP over any [`Transport`]
//! and supervises any [`AgentProcess`]; a [`Launcher`] produces both. The server uses
//! [`OsLauncher`] (an OS process on stdio); tests of the session layer pass a launcher
//! that runs an agent in memory (see [`crate::demo::InMemory`]), so the actor can be
//! tested in-process, with `tokio::time::pause()`, without spawning anything.

use std::future::Future;
use std::os::unix::process::ExitStatusExt;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::{AbortHandle, JoinHandle};

use crate::{AgentError, LinkConfig, process};

/// The agent's end of the conversation: what it writes (its stdout) and what it reads
/// (its stdin).
pub struct Transport {
    pub from_agent: Box<dyn AsyncRead + Send + Unpin>,
    pub to_agent: Box<dyn AsyncWrite + Send + Unpin>,
}

/// How an agent process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

/// What runs the agent: how to stop it and how to learn that it ended.
pub struct AgentProcess {
    pid: u32,
    stopper: Stopper,
    exited: Pin<Box<dyn Future<Output = ExitInfo> + Send>>,
}

#[derive(Clone)]
enum Stopper {
    /// An OS process leading its own process group.
    Group(u32),
    /// A task of this process (an in-memory agent).
    Task(AbortHandle),
}

impl AgentProcess {
    /// An OS process that leads its own process group (`pid` is also the group id).
    pub(crate) fn os(mut child: tokio::process::Child, pid: u32) -> AgentProcess {
        let exited = Box::pin(async move {
            match child.wait().await {
                Ok(status) => ExitInfo {
                    code: status.code(),
                    signal: status.signal(),
                },
                Err(error) => {
                    tracing::error!(pid, %error, "could not wait for the agent process");
                    ExitInfo {
                        code: None,
                        signal: None,
                    }
                }
            }
        });
        AgentProcess {
            pid,
            stopper: Stopper::Group(pid),
            exited,
        }
    }

    /// An agent running as a task of this process. It "exits" with code 0 when the task
    /// returns and with signal 9 when it is stopped. Its pid is reported as `pid`
    /// (never signalled: only OS processes are).
    pub fn task(pid: u32, task: JoinHandle<()>) -> AgentProcess {
        let abort = task.abort_handle();
        let exited = Box::pin(async move {
            match task.await {
                Ok(()) => ExitInfo {
                    code: Some(0),
                    signal: None,
                },
                Err(_) => ExitInfo {
                    code: None,
                    signal: Some(libc::SIGKILL),
                },
            }
        });
        AgentProcess {
            pid,
            stopper: Stopper::Task(abort),
            exited,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub(crate) fn into_parts(
        self,
    ) -> (
        ProcessStopper,
        Pin<Box<dyn Future<Output = ExitInfo> + Send>>,
    ) {
        (ProcessStopper(self.stopper), self.exited)
    }
}

/// Stops an [`AgentProcess`] while something else waits for its exit.
#[derive(Clone)]
pub(crate) struct ProcessStopper(Stopper);

impl ProcessStopper {
    /// Ask it to stop (SIGTERM to the group; an in-memory agent stops at once).
    pub(crate) fn terminate(&self) {
        match &self.0 {
            Stopper::Group(pgid) => process::signal_group(*pgid, libc::SIGTERM),
            Stopper::Task(abort) => abort.abort(),
        }
    }

    /// Make it stop (SIGKILL to the group).
    pub(crate) fn kill(&self) {
        match &self.0 {
            Stopper::Group(pgid) => process::signal_group(*pgid, libc::SIGKILL),
            Stopper::Task(abort) => abort.abort(),
        }
    }
}

/// Produces an agent to connect to: the server's is [`OsLauncher`].
pub trait Launcher: Send + Sync + std::fmt::Debug {
    /// Start the agent described by `config` (not yet spoken to). Must not block.
    fn launch(&self, config: &LinkConfig) -> Result<(Transport, AgentProcess), AgentError>;

    /// Whether `spec` can be launched now; `Err` says why not, in a sentence.
    fn available(&self, spec: &crate::AgentSpec) -> Result<(), String> {
        process::locate(spec).map(|_| ())
    }
}

/// Launches `config.spec` as an OS process on stdio (see `process::spawn`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsLauncher;

impl Launcher for OsLauncher {
    fn launch(&self, config: &LinkConfig) -> Result<(Transport, AgentProcess), AgentError> {
        let process::Spawned {
            child,
            stdin,
            stdout,
            pid,
        } = process::spawn(config)?;
        let transport = Transport {
            from_agent: Box::new(stdout),
            to_agent: Box::new(stdin),
        };
        Ok((transport, AgentProcess::os(child, pid)))
    }
}
