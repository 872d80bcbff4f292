//! The agent's stderr log rotates: a real agent process writes well over three caps'
//! worth of numbered lines to stderr, and only the newest ones are kept, in order, in
//! the current file plus two rotated ones.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_agent::{AgentLink, AgentSpec, LinkConfig};
use tokio::sync::mpsc;

/// Upper bound for any single wait; generous for loaded CI machines.
const WAIT: Duration = Duration::from_secs(60);

/// The crate's cap (`stderr_log::CAP`, not public).
const CAP: u64 = 8 * 1024 * 1024;

/// `seq 1 LAST` is about 30.9 MB: more than three caps, so one rotated file is dropped.
const LAST: u64 = 4_000_000;

const DEMO: &str = env!("CARGO_BIN_EXE_berth-demo-agent");

fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

#[tokio::test]
async fn a_real_agent_flooding_stderr_keeps_the_newest_lines_in_three_files() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("work");
    std::fs::create_dir(&cwd).unwrap();
    let log = dir.path().join("logs/agent.stderr.log");
    let (tx, _events) = mpsc::channel(64);
    let config = LinkConfig {
        // `/bin/sh` only here, as the agent under test: flood stderr, then be the demo.
        spec: AgentSpec {
            program: "/bin/sh".to_owned(),
            args: vec![
                "-c".to_owned(),
                format!("seq 1 {LAST} >&2; exec \"$0\""),
                DEMO.to_owned(),
            ],
            env: vec![("PATH".to_owned(), "/usr/bin:/bin".to_owned())],
        },
        cwd,
        stderr_log: log.clone(),
        resume: None,
        handshake_timeout: WAIT,
    };
    let link = tokio::time::timeout(WAIT, AgentLink::start(config, tx))
        .await
        .expect("start timed out")
        .expect("agent failed to start");

    // The copy task is not observable from here: wait for its last line to land.
    let last_line = format!("{LAST}\n");
    let deadline = Instant::now() + WAIT;
    while !std::fs::read_to_string(&log).is_ok_and(|text| text.ends_with(&last_line)) {
        assert!(
            Instant::now() < deadline,
            "the last line never reached the log"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    link.kill(Duration::from_secs(5)).await;

    assert!(!rotated(&log, 3).exists(), "more than two old files kept");
    let files = [rotated(&log, 2), rotated(&log, 1), log.clone()];
    let mut numbers = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let text = std::fs::read_to_string(path).unwrap();
        let len = text.len() as u64;
        assert!(len <= CAP, "{} has {len} bytes", path.display());
        // Rotated files end on a line boundary, within one line of the cap.
        if i < 2 {
            assert!(len > CAP - 8, "{} has only {len} bytes", path.display());
        }
        assert!(text.ends_with('\n'), "{} ends mid-line", path.display());
        numbers.extend(text.lines().map(|line| line.parse::<u64>().unwrap()));
    }
    // Oldest to newest, the three files are one unbroken run ending at the last line,
    // and the oldest lines (the first cap's worth at least) are gone.
    let first = numbers[0];
    assert!(first > 1_000_000, "starts at {first}");
    assert!(
        numbers.iter().copied().eq(first..=LAST),
        "lines missing, repeated or out of order"
    );
}
