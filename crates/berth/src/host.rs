//! `berth host <session>`: one session's host, started by `berth serve` in its own
//! process group. Its spec (config, agent and environment) arrives on stdin and is never
//! written to disk; `ready` on stdout tells the server it can connect; its log is its
//! stderr (`<session dir>/logs/host.log`). See `berth_session::host`.

use std::io::{BufRead, Write};

use anyhow::Context;
use berth_session::host::HostSpec;

use crate::cli::HostArgs;

pub async fn run(args: HostArgs) -> anyhow::Result<()> {
    crate::init_tracing();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the host spec on stdin")?;
    let spec: HostSpec = serde_json::from_str(&line).context("the host spec on stdin")?;
    anyhow::ensure!(
        spec.session_id == args.session,
        "the spec on stdin is for session {}, not {}",
        spec.session_id,
        args.session
    );
    berth_session::host::serve(spec, || {
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "ready");
        let _ = stdout.flush();
    })
    .await?;
    Ok(())
}
