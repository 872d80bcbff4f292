//! Starting a session host and connecting to one (the handshake).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::wire::{self, HOST_PROTOCOL, ToGateway, ToHost};
use super::{HostSpec, SOCKET};
use crate::SessionError;

/// How long a host may take from spawn to `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a host may take to answer `hello`.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);

/// What a host's environment may hold: the agent's own environment travels in its spec,
/// so the host needs nothing but what a process needs to run and to log.
const HOST_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "TMPDIR",
    "RUST_LOG",
    "RUST_BACKTRACE",
];

/// Start the host of `spec.session_id` from `program`, detached in its own process
/// group (a kill of the server's group, or Ctrl-C in its terminal, does not reach it),
/// and wait until it is ready. Its stderr (its log) goes to `log`.
pub(crate) async fn spawn(program: &Path, spec: &HostSpec, log: &Path) -> Result<(), SessionError> {
    if let Some(dir) = log.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut command = tokio::process::Command::new(program);
    command
        .arg("host")
        .arg(&spec.session_id)
        .env_clear()
        .envs(
            HOST_ENV
                .iter()
                .filter_map(|k| Some((k, std::env::var_os(k)?))),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .process_group(0);
    let mut child = command.spawn().map_err(|e| {
        SessionError::Unavailable(format!(
            "cannot start a session host ({}): {e}",
            program.display()
        ))
    })?;
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let line = serde_json::to_vec(spec).expect("host specs serialise");
    stdin.write_all(&line).await?;
    stdin.write_all(b"\n").await?;
    drop(stdin);
    let mut ready = String::new();
    let mut stdout = BufReader::new(stdout);
    let answered = tokio::time::timeout(READY_TIMEOUT, stdout.read_line(&mut ready)).await;
    // Reaped in the background whatever it does from here on.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    match answered {
        Ok(Ok(_)) if ready.trim() == "ready" => Ok(()),
        Ok(_) => Err(SessionError::Unavailable(format!(
            "the session host did not start; see {}",
            log.display()
        ))),
        Err(_) => Err(SessionError::Unavailable(format!(
            "the session host was not ready within {}s; see {}",
            READY_TIMEOUT.as_secs(),
            log.display()
        ))),
    }
}

/// A connection to a host that welcomed this server.
pub(crate) struct Connected {
    pub welcome: ToGateway,
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
}

/// Connect to the host whose session directory is `dir` and say hello. `Err` names
/// why it cannot be driven (not there, not answering, or incompatible).
pub(crate) async fn connect(dir: &Path) -> Result<Connected, String> {
    connect_as(dir, false).await
}

/// [`connect`], as a driver or (`control`) as a control connection.
pub(crate) async fn connect_as(dir: &Path, control: bool) -> Result<Connected, String> {
    let stream = connect_socket(dir)
        .await
        .map_err(|e| format!("cannot reach the session host: {e}"))?;
    let (read, mut writer) = stream.into_split();
    let hello = ToHost::Hello {
        protocol: HOST_PROTOCOL,
        server_version: env!("CARGO_PKG_VERSION").into(),
        control,
    };
    writer
        .write_all(&wire::encode(&hello))
        .await
        .map_err(|e| format!("the session host hung up: {e}"))?;
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    let welcome = tokio::time::timeout(WELCOME_TIMEOUT, wire::read_frame(&mut reader, &mut line))
        .await
        .map_err(|_| "the session host did not answer hello in time".to_owned())?
        .map_err(|e| format!("the session host answered garbage: {e}"))?;
    match welcome {
        Some(welcome @ ToGateway::Welcome { .. }) => Ok(Connected {
            welcome,
            reader,
            writer,
        }),
        Some(ToGateway::Incompatible {
            host_version,
            reason,
            ..
        }) => Err(format!(
            "session host {host_version} is incompatible: {reason}"
        )),
        Some(other) => Err(format!("the session host answered {other:?} to hello")),
        None => Err("the session host hung up".into()),
    }
}

/// The host's socket in `dir`. Socket paths are limited to 108 bytes: a longer one is
/// reached through this process's descriptor of the directory.
async fn connect_socket(dir: &Path) -> std::io::Result<UnixStream> {
    let path = dir.join(SOCKET);
    if path.as_os_str().len() < 100 {
        return UnixStream::connect(&path).await;
    }
    let dir = std::fs::File::open(dir)?;
    use std::os::fd::AsRawFd;
    let short = PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", dir.as_raw_fd()));
    let stream = UnixStream::connect(&short).await;
    drop(dir);
    stream
}
