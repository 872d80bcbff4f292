//! The agent's OS process: how it is launched and how its process group is signalled.

use std::io;
use std::path::Path;
use std::process::Stdio;

use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::stderr_log::{self, StderrLog};
use crate::{AgentError, LinkConfig};

/// A freshly spawned agent with its protocol pipes taken out.
pub(crate) struct Spawned {
    pub child: Child,
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    /// Also the id of its process group (it leads its own).
    pub pid: u32,
}

/// Launch the agent: argv only (never a shell), exactly the given environment, its own
/// process group (so it and everything it starts can be signalled at once, and a Ctrl-C
/// meant for berth does not reach it), stdio piped, stderr copied into the rotating log
/// (`stderr_log`).
pub(crate) fn spawn(config: &LinkConfig) -> Result<Spawned, AgentError> {
    let spec = &config.spec;
    let spawn_error = |reason: String| AgentError::Spawn {
        program: spec.program.clone(),
        reason,
    };
    let log = StderrLog::open(&config.stderr_log, stderr_log::CAP).map_err(|e| {
        spawn_error(format!(
            "cannot open its stderr log {}: {e}",
            config.stderr_log.display()
        ))
    })?;
    // Launch exactly what `locate` (and so `GET /agents`) found: the agent's own PATH,
    // never a fallback search path of the OS.
    let program = locate(spec).map_err(spawn_error)?;
    let mut command = Command::new(program);
    command
        .args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(key, value)| (key, value)))
        .current_dir(&config.cwd)
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // The session decides when the agent dies (`AgentLink::kill`), not a drop.
        .kill_on_drop(false);
    let mut child = command.spawn().map_err(|e| spawn_error(e.to_string()))?;
    let (Some(pid), Some(stdin), Some(stdout), Some(stderr)) = (
        child.id(),
        child.stdin.take(),
        child.stdout.take(),
        child.stderr.take(),
    ) else {
        // Unreachable with piped stdio on a just-spawned child; reap it rather than panic.
        let _ = child.start_kill();
        return Err(spawn_error(
            "the process vanished while starting".to_owned(),
        ));
    };
    // Detached on purpose: it owns only the pipe and the file and ends at stderr EOF,
    // which a descendant of the agent may put off forever; nothing waits for it.
    tokio::spawn(stderr_log::copy(stderr, log));
    Ok(Spawned {
        child,
        stdin,
        stdout,
        pid,
    })
}

/// Signal every process in the group led by `pgid`. A group that no longer exists is
/// not an error.
pub(crate) fn signal_group(pgid: u32, signal: libc::c_int) {
    // kill(2) with pid 0 or -1 would signal our own group or every process we may signal:
    // never let a bogus id get there.
    let Some(pgid) = i32::try_from(pgid).ok().filter(|&p| p > 1) else {
        tracing::error!(pgid, "refusing to signal a bogus process group");
        return;
    };
    if let Err(error) = kill(-pgid, signal)
        && error.raw_os_error() != Some(libc::ESRCH)
    {
        tracing::warn!(pgid, signal, %error, "failed to signal the agent's process group");
    }
}

#[allow(unsafe_code)]
fn kill(pid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: kill(2) only takes two integers and touches no memory of this process.
    let rc = unsafe { libc::kill(pid, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Where `spec.program` would be found when launched: a path with a `/` as given, a bare
/// name on the `PATH` of `spec.env` (the agent's own environment, not the server's).
/// `Err` is a sentence saying why it cannot be launched.
pub fn locate(spec: &crate::AgentSpec) -> Result<std::path::PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &Path| {
        std::fs::metadata(path)
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    };
    let program = spec.program.as_str();
    if program.is_empty() {
        return Err("no command is configured".to_owned());
    }
    if program.contains('/') {
        let path = Path::new(program);
        return if executable(path) {
            Ok(path.to_path_buf())
        } else if path.exists() {
            Err(format!("`{program}` is not an executable file"))
        } else {
            Err(format!("`{program}` does not exist"))
        };
    }
    let path = spec
        .env
        .iter()
        .find(|(key, _)| key == "PATH")
        .map(|(_, value)| value.as_str())
        .unwrap_or_default();
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
        .ok_or_else(|| format!("`{program}` was not found on PATH"))
}
