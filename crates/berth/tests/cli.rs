//! The CLI (`berth new|sessions|send|attach|answer|token|stop|archive|unarchive`)
//! against a real server.

mod support;

use std::process::{Output, Stdio};

use berth_protocol::{Event, Seq, ServerFrame, StopReason};
use serde_json::json;
use support::{TestServer, WAIT};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The `berth` binary with a clean environment: no token or server from the caller's
/// environment, no access to the caller's data directory.
fn berth_command(home: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command
        .env_remove("BERTH_URL")
        .env_remove("BERTH_TOKEN")
        .env_remove("BERTH_DATA_DIR")
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// `args` followed by `--server <base> --token <token>`.
fn client_args<'a>(server: &'a TestServer, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(["--server", &server.base, "--token", &server.token]);
    all
}

async fn output(mut command: Command) -> Output {
    tokio::time::timeout(WAIT, command.output())
        .await
        .expect("the command finishes within the timeout")
        .expect("the command runs")
}

/// Run `berth <args> --server … --token …`; return stdout on success, fail otherwise.
async fn ok(server: &TestServer, home: &std::path::Path, args: &[&str]) -> String {
    let out = failing_or_ok(server, home, args).await;
    assert!(
        out.status.success(),
        "berth {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn failing_or_ok(server: &TestServer, home: &std::path::Path, args: &[&str]) -> Output {
    let mut command = berth_command(home);
    command.args(client_args(server, args));
    output(command).await
}

/// A running `berth attach`, its stdout read line by line.
struct Running {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every line printed so far.
    seen: Vec<String>,
}

impl Running {
    fn spawn(mut command: Command) -> Running {
        command.stdout(Stdio::piped());
        let mut child = command.spawn().expect("spawn berth");
        let stdout = child.stdout.take().unwrap();
        Running {
            child,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        }
    }

    /// Read lines until one matches `pred`; returns it. Fails after `WAIT`.
    async fn until(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "timed out waiting for {what}; output so far:\n{}",
                        self.seen.join("\n")
                    )
                })
                .expect("reading stdout");
            let Some(line) = line else {
                panic!(
                    "berth exited before {what}; output:\n{}",
                    self.seen.join("\n")
                );
            };
            self.seen.push(line.clone());
            if pred(&line) {
                return line;
            }
        }
    }

    /// Read raw frames until a `turn_ended` event; returns its seq.
    async fn until_turn_ended(&mut self, after: Seq) -> Seq {
        let line = self
            .until("a turn_ended frame", |line| {
                matches!(
                    serde_json::from_str::<ServerFrame>(line),
                    Ok(ServerFrame::Event { seq, event: Event::TurnEnded { .. }, .. }) if seq > after
                )
            })
            .await;
        match serde_json::from_str(&line).unwrap() {
            ServerFrame::Event { seq, .. } => seq,
            _ => unreachable!(),
        }
    }

    fn frames(&self) -> Vec<ServerFrame> {
        self.seen
            .iter()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not a frame ({e}): {line}"))
            })
            .collect()
    }

    async fn kill(mut self) -> Vec<String> {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(WAIT, self.child.wait()).await;
        self.seen
    }
}

/// The seq ranges covered by the event frames, in order.
fn covered(frames: &[ServerFrame]) -> Vec<(Seq, Seq)> {
    frames.iter().filter_map(support::covered).collect()
}

/// Ranges are contiguous from `from`, without gap or overlap; returns the last seq.
fn assert_contiguous(ranges: &[(Seq, Seq)], from: Seq) -> Seq {
    let mut next = from;
    for &(first, last) in ranges {
        assert_eq!(first, next, "contiguous, no duplicates: {ranges:?}");
        assert!(last >= first, "{ranges:?}");
        next = last + 1;
    }
    next - 1
}

#[tokio::test]
async fn new_sessions_send_and_id_prefixes() {
    let server = TestServer::start().await;
    let home = tempfile::tempdir().unwrap();
    let home = home.path();

    // new prints an id.
    let id = ok(&server, home, &["new", "--title", "x"])
        .await
        .trim()
        .to_owned();
    let sessions = server.sessions().await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].id, id);
    assert_eq!(sessions[0].title, "x");
    let other = ok(&server, home, &["new", "--title", "second one"])
        .await
        .trim()
        .to_owned();
    assert_ne!(id, other);

    // sessions lists them.
    let listed = ok(&server, home, &["sessions"]).await;
    let line = listed
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(line.contains(" x "), "{line}");
    assert!(line.contains("idle"), "{line}");
    assert!(listed.contains(&other), "{listed}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&server, home, &["sessions", "--json"]).await).unwrap();
    assert_eq!(json["sessions"].as_array().unwrap().len(), 2);

    // The environment works as well as flags.
    let mut command = berth_command(home);
    command
        .arg("sessions")
        .env("BERTH_URL", &server.base)
        .env("BERTH_TOKEN", &server.token);
    let out = output(command).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));
    // So does the token file of the data directory.
    let mut command = berth_command(home);
    command
        .args(["sessions", "--server", &server.base, "--data-dir"])
        .arg(&server.data_dir);
    let out = output(command).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A wrong token is refused with the documented code.
    let mut command = berth_command(home);
    command.args(["sessions", "--server", &server.base, "--token", "wrong"]);
    let out = output(command).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unauthorized"),
        "{out:?}"
    );

    // send prints the turn id.
    let turn_id = ok(&server, home, &["send", &id, "/stream 5"])
        .await
        .trim()
        .to_owned();
    assert!(!turn_id.is_empty());
    server
        .wait_event(&id, |e| matches!(e, Event::TurnEnded { .. }))
        .await;
    let events = server.events(&id).await;
    assert!(
        events
            .iter()
            .any(|(_, e)| matches!(e, Event::UserMessage { turn_id: t, text, .. } if *t == turn_id && text == "/stream 5"))
    );
    let chunks = events
        .iter()
        .filter(|(_, e)| matches!(e, Event::AgentMessageChunk { .. }))
        .count();
    assert_eq!(chunks, 5);

    // A unique prefix of the id resolves; a shared one and an unknown one fail.
    let shared = id
        .chars()
        .zip(other.chars())
        .take_while(|(a, b)| a == b)
        .count();
    let prefix = &id[..shared + 1];
    server.wait_idle(&id).await;
    let turn_id = ok(&server, home, &["send", prefix, "/stream 1"])
        .await
        .trim()
        .to_owned();
    server
        .wait_event(
            &id,
            |e| matches!(e, Event::UserMessage { turn_id: t, .. } if *t == turn_id),
        )
        .await;
    // A unique slug prefix resolves too.
    let slug = server.session(&other).await.slug;
    let slug_prefix = &slug[..slug.len() - 3];
    let turn_id = ok(&server, home, &["send", slug_prefix, "/stream 1"])
        .await
        .trim()
        .to_owned();
    server
        .wait_event(
            &other,
            |e| matches!(e, Event::UserMessage { turn_id: t, .. } if *t == turn_id),
        )
        .await;
    if shared > 0 {
        let out = failing_or_ok(&server, home, &["send", &id[..shared], "/stream 1"]).await;
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("matches 2 sessions"),
            "{out:?}"
        );
    }
    let out = failing_or_ok(&server, home, &["send", "zzzz", "hi"]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no session matches"),
        "{out:?}"
    );
    let out = failing_or_ok(&server, home, &["attach", "zzzz", "--no-input"]).await;
    assert!(!out.status.success());
}

#[tokio::test]
async fn attach_raw_prints_every_frame_and_resumes_after_a_cursor() {
    let server = TestServer::start().await;
    let home = tempfile::tempdir().unwrap();
    let id = ok(&server, home.path(), &["new", "--title", "attach"])
        .await
        .trim()
        .to_owned();

    // Live: attach first, then start the turn.
    let mut command = berth_command(home.path());
    command.args(client_args(
        &server,
        &["attach", &id, "--no-input", "--raw"],
    ));
    let mut attach = Running::spawn(command);
    attach
        .until("attached", |l| l.contains(r#""type":"attached""#))
        .await;
    ok(&server, home.path(), &["send", &id, "/stream 5"]).await;
    let end = attach.until_turn_ended(0).await;
    let frames = attach.frames();
    assert!(
        matches!(frames[0], ServerFrame::Hello { .. }),
        "{:?}",
        frames[0]
    );
    let last = assert_contiguous(&covered(&frames), 1);
    assert_eq!(last, end);
    attach.kill().await;
    let log = server.events(&id).await;
    assert_eq!(
        log.iter()
            .find(|(_, e)| matches!(e, Event::TurnEnded { .. }))
            .unwrap()
            .0,
        end
    );

    // Replay: a fresh attach prints the whole log up to the turn's end.
    let mut command = berth_command(home.path());
    command.args(client_args(
        &server,
        &["attach", &id, "--no-input", "--raw"],
    ));
    let mut attach = Running::spawn(command);
    let replay_end = attach.until_turn_ended(0).await;
    assert_eq!(replay_end, end);
    assert_eq!(assert_contiguous(&covered(&attach.frames()), 1), end);
    let mut texts = String::new();
    for frame in attach.frames() {
        if let ServerFrame::Event {
            event: Event::AgentMessageChunk { text, .. },
            ..
        } = frame
        {
            texts.push_str(&text);
        }
    }
    assert_eq!(texts, "chunk 1\nchunk 2\nchunk 3\nchunk 4\nchunk 5\n");
    attach.kill().await;

    // --after N: only events after N, then live ones.
    let n = 3;
    let mut command = berth_command(home.path());
    let after = n.to_string();
    command.args(client_args(
        &server,
        &["attach", &id, "--after", &after, "--raw", "--no-input"],
    ));
    let mut attach = Running::spawn(command);
    let replay_end = attach.until_turn_ended(0).await;
    assert_eq!(replay_end, end);
    let ranges = covered(&attach.frames());
    assert_eq!(ranges[0].0, n + 1, "{ranges:?}");
    assert_contiguous(&ranges, n + 1);
    // And the next turn arrives live, contiguous.
    server.wait_idle(&id).await;
    ok(&server, home.path(), &["send", &id, "/stream 2"]).await;
    let second_end = attach.until_turn_ended(end).await;
    assert_eq!(
        assert_contiguous(&covered(&attach.frames()), n + 1),
        second_end
    );
    attach.kill().await;
}

/// What `berth attach` printed counts as read (the sidebar's unread count), unless
/// `--keep-unread`. `/quit` sets the cursor before exiting, so the exit is the moment
/// to look; live events move it while attached.
#[tokio::test]
async fn attach_moves_the_read_cursor_to_what_it_printed() {
    use tokio::io::AsyncWriteExt;

    let server = TestServer::start().await;
    let home = tempfile::tempdir().unwrap();
    let id = ok(&server, home.path(), &["new", "--title", "read"])
        .await
        .trim()
        .to_owned();
    ok(&server, home.path(), &["send", &id, "/stream 50"]).await;
    let done = server.wait_idle(&id).await;
    assert_eq!(done.unread, done.last_seq, "nobody has looked yet");

    let watch = |extra: &'static [&'static str]| {
        let mut command = berth_command(home.path());
        let mut args = vec!["attach", id.as_str(), "--raw"];
        args.extend_from_slice(extra);
        command
            .args(client_args(&server, &args))
            .stdin(Stdio::piped());
        let mut attach = Running::spawn(command);
        let stdin = attach.child.stdin.take().unwrap();
        (attach, stdin)
    };

    // Watching with --keep-unread leaves every event unread.
    let (mut attach, mut stdin) = watch(&["--keep-unread"]);
    attach.until_turn_ended(0).await;
    stdin.write_all(b"/quit\n").await.unwrap();
    let status = tokio::time::timeout(WAIT, attach.child.wait()).await;
    assert!(status.unwrap().unwrap().success());
    assert_eq!(server.session(&id).await.unread, done.last_seq);

    // A plain attach reads what it printed, then follows a live turn.
    let (mut attach, mut stdin) = watch(&[]);
    let end = attach.until_turn_ended(0).await;
    support::wait_for("the cursor at the first turn's end", || async {
        server.session(&id).await.read_seq >= end
    })
    .await;
    ok(&server, home.path(), &["send", &id, "/stream 3"]).await;
    let last = server.wait_idle(&id).await.last_seq;
    attach.until_turn_ended(end).await;
    stdin.write_all(b"/quit\n").await.unwrap();
    let status = tokio::time::timeout(WAIT, attach.child.wait()).await;
    assert!(status.unwrap().unwrap().success());
    let after = server.session(&id).await;
    assert_eq!((after.read_seq, after.unread), (last, 0));
}

#[tokio::test]
async fn answer_resolves_a_prompt_once() {
    let server = TestServer::start().await;
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let id = ok(&server, home, &["new", "--title", "ask"])
        .await
        .trim()
        .to_owned();
    ok(&server, home, &["send", &id, "/permission"]).await;
    support::wait_for("the prompt", || async {
        !server.prompts().await.prompts.is_empty()
    })
    .await;
    let prompts = server.prompts().await.prompts;
    let prompt_id = prompts[0].prompt_id().unwrap().to_owned();
    assert_eq!(prompts[0].session, id);

    // An option that is not offered: refused, the prompt stays pending.
    let out = failing_or_ok(
        &server,
        home,
        &["answer", &id, &prompt_id, "--option", "bogus"],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad_request"),
        "{out:?}"
    );
    assert_eq!(server.prompts().await.prompts.len(), 1);
    // No answer given at all.
    let out = failing_or_ok(&server, home, &["answer", &id, &prompt_id]).await;
    assert!(!out.status.success());

    let printed = ok(
        &server,
        home,
        &["answer", &id[..20], &prompt_id, "--option", "allow"],
    )
    .await;
    let outcome: serde_json::Value = serde_json::from_str(printed.trim()).unwrap();
    assert_eq!(outcome, json!({"option_id": "allow"}));
    server
        .wait_event(&id, |e| {
            matches!(e, Event::PromptResolved { prompt_id: p, outcome: berth_protocol::Outcome::Selected { option_id } }
                if *p == prompt_id && option_id == "allow")
        })
        .await;
    server
        .wait_event(&id, |e| matches!(e, Event::TurnEnded { .. }))
        .await;

    let out = failing_or_ok(
        &server,
        home,
        &["answer", &id, &prompt_id, "--option", "reject"],
    )
    .await;
    assert!(!out.status.success(), "a second answer fails");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already_resolved"), "{stderr}");
    let resolved = server
        .events(&id)
        .await
        .into_iter()
        .filter(|(_, e)| matches!(e, Event::PromptResolved { .. }))
        .count();
    assert_eq!(resolved, 1);
}

/// `berth config` prints what `berth serve` would run with: the file over the
/// defaults, `BERTH_*` variables and flags over the file; never the token.
#[tokio::test]
async fn config_prints_the_file_variables_and_flags_in_effect() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("berth.toml");
    std::fs::write(
        &file,
        "[server]\nport = 9000\n[sessions]\ncancel_grace_secs = 7\nmax_live_agents = 2\n",
    )
    .unwrap();
    let data = home.path().join("elsewhere");
    let mut command = berth_command(home.path());
    command
        .env("BERTH_PORT", "9100")
        .env("BERTH_SYNCHRONOUS", "normal")
        .env("BERTH_TOKEN", "do-not-print-me")
        .arg("--config")
        .arg(&file)
        .args(["config", "--max-live-agents", "3", "--data-dir"])
        .arg(&data);
    let out = output(command).await;
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(!printed.contains("do-not-print-me"), "{printed}");
    let effective: toml::Table = toml::from_str(&printed).unwrap();
    let get = |table: &str, key: &str| effective[table][key].clone();
    assert_eq!(
        get("server", "port"),
        toml::Value::Integer(9100),
        "variable over file"
    );
    assert_eq!(
        get("sessions", "max_live_agents"),
        toml::Value::Integer(3),
        "flag over file"
    );
    assert_eq!(
        get("sessions", "cancel_grace_secs"),
        toml::Value::Integer(7),
        "file kept"
    );
    assert_eq!(get("storage", "synchronous").as_str(), Some("normal"));
    assert_eq!(get("storage", "data_dir").as_str(), data.to_str());

    // With nothing set, the default data directory is named, not left out.
    let out = output({
        let mut command = berth_command(home.path());
        command.arg("config");
        command
    })
    .await;
    let effective: toml::Table = toml::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
    let expected = home.path().join("data").join("berth");
    assert_eq!(effective["storage"]["data_dir"].as_str(), expected.to_str());
}

#[tokio::test]
async fn token_prints_the_data_dirs_token() {
    let server = TestServer::start().await;
    let home = tempfile::tempdir().unwrap();

    let mut command = berth_command(home.path());
    command.args(["token", "--data-dir"]).arg(&server.data_dir);
    let out = output(command).await;
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed.trim(), server.token);
    let file = std::fs::read_to_string(server.data_dir.join("token")).unwrap();
    assert_eq!(file.trim(), server.token);

    // A fresh directory gets a new token, printed the same way every time.
    let fresh = home.path().join("fresh");
    let mut printed = Vec::new();
    for _ in 0..2 {
        let mut command = berth_command(home.path());
        command.args(["token", "--data-dir"]).arg(&fresh);
        let out = output(command).await;
        assert!(out.status.success());
        printed.push(String::from_utf8(out.stdout).unwrap().trim().to_owned());
    }
    assert_eq!(printed[0], printed[1]);
    assert_eq!(
        std::fs::read_to_string(fresh.join("token")).unwrap().trim(),
        printed[0]
    );
    assert_ne!(printed[0], server.token);
}

/// A new session titled `title` and `berth attach` on it, with stdin to type into, once it
/// has printed the session's start.
async fn attach_typing(
    server: &TestServer,
    home: &std::path::Path,
    title: &str,
) -> (String, Running, tokio::process::ChildStdin) {
    let id = ok(server, home, &["new", "--title", title])
        .await
        .trim()
        .to_owned();
    let mut command = berth_command(home);
    command
        .args(client_args(server, &["attach", &id]))
        .stdin(Stdio::piped());
    let mut attach = Running::spawn(command);
    let stdin = attach.child.stdin.take().unwrap();
    attach
        .until("the session header", |l| l.contains("[session created"))
        .await;
    (id, attach, stdin)
}

#[tokio::test]
async fn attach_answers_a_permission_prompt_typed_on_stdin() {
    let server = TestServer::start().await;
    let home = tempfile::tempdir().unwrap();
    let (id, mut attach, mut stdin) = attach_typing(&server, home.path(), "typed").await;

    server.send(&id, "/permission").await;
    attach
        .until("the permission prompt", |l| {
            l.contains("permission requested")
        })
        .await;
    attach
        .until("the answer hint", |l| l.contains("type a number to answer"))
        .await;
    stdin.write_all(b"1\n").await.unwrap();
    stdin.flush().await.unwrap();

    let (_, resolved) = server
        .wait_event(&id, |e| matches!(e, Event::PromptResolved { .. }))
        .await;
    match resolved {
        Event::PromptResolved {
            outcome: berth_protocol::Outcome::Selected { option_id },
            ..
        } => assert_eq!(option_id, "allow"),
        other => panic!("unexpected resolution {other:?}"),
    }
    attach
        .until("the answer shown", |l| {
            l.contains(r#"[answered: {"option_id":"allow"}]"#)
        })
        .await;
    attach
        .until("the turn's end", |l| l.contains("[turn ended"))
        .await;
    assert!(server.prompts().await.prompts.is_empty());

    // With no prompt pending, a typed line starts a turn.
    stdin.write_all(b"/stream 2\n").await.unwrap();
    stdin.flush().await.unwrap();
    server
        .wait_event(
            &id,
            |e| matches!(e, Event::UserMessage { text, .. } if text == "/stream 2"),
        )
        .await;
    attach
        .until("the typed turn's reply", |l| l.contains("chunk 2"))
        .await;
    drop(stdin);
    attach.kill().await;
}

/// The choices of `/ask-many` typed by number, `1, 3`, go out as a list; the option
/// holding a comma stays one choice.
#[tokio::test]
async fn attach_answers_a_multiple_choice_question_by_numbers() {
    let server = TestServer::start().await;
    let home = tempfile::tempdir().unwrap();
    let (id, mut attach, mut stdin) = attach_typing(&server, home.path(), "checks").await;

    server.send(&id, "/ask-many").await;
    attach
        .until("the numbered options", |l| {
            l.contains("1) lint / 2) unit tests / 3) e2e, in Chromium (choose one or more)")
        })
        .await;
    attach
        .until("the answer hint", |l| {
            l.contains("type the numbers of your choices (e.g. 1,3)")
        })
        .await;
    stdin.write_all(b"1, 3\n").await.unwrap();
    stdin.flush().await.unwrap();

    let (_, resolved) = server
        .wait_event(&id, |e| matches!(e, Event::PromptResolved { .. }))
        .await;
    let expected = berth_protocol::Outcome::Answered {
        answers: [(
            "checks".to_owned(),
            vec!["lint".to_owned(), "e2e, in Chromium".to_owned()].into(),
        )]
        .into(),
    };
    match resolved {
        Event::PromptResolved { outcome, .. } => assert_eq!(outcome, expected),
        other => panic!("unexpected resolution {other:?}"),
    }
    attach
        .until("the agent's reply", |l| {
            l.contains(r#"You picked: ["lint", "e2e, in Chromium"]"#)
        })
        .await;
    drop(stdin);
    attach.kill().await;
}

/// `berth answer` with one id given twice answers a multiple-choice question with both.
#[tokio::test]
async fn answer_repeats_an_id_for_several_choices() {
    let server = TestServer::start().await;
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let id = ok(&server, home, &["new", "--title", "checks"])
        .await
        .trim()
        .to_owned();
    ok(&server, home, &["send", &id, "/ask-many"]).await;
    support::wait_for("the prompt", || async {
        !server.prompts().await.prompts.is_empty()
    })
    .await;
    let prompt_id = server.prompts().await.prompts[0]
        .prompt_id()
        .unwrap()
        .to_owned();
    let printed = ok(
        &server,
        home,
        &[
            "answer",
            &id,
            &prompt_id,
            "--answer",
            "checks=unit tests",
            "--answer",
            "checks=e2e, in Chromium",
        ],
    )
    .await;
    let outcome: serde_json::Value = serde_json::from_str(printed.trim()).unwrap();
    assert_eq!(
        outcome,
        json!({"answers": {"checks": ["unit tests", "e2e, in Chromium"]}})
    );
}

#[tokio::test]
async fn attach_resumes_across_a_server_restart_on_the_same_port() {
    let mut server = TestServer::start().await;
    let home = tempfile::tempdir().unwrap();
    let id = ok(&server, home.path(), &["new", "--title", "restart"])
        .await
        .trim()
        .to_owned();
    server.send(&id, "/stream 3").await;
    server
        .wait_event(&id, |e| matches!(e, Event::TurnEnded { .. }))
        .await;

    let mut command = berth_command(home.path());
    command.args(client_args(
        &server,
        &["attach", &id, "--raw", "--no-input"],
    ));
    let mut attach = Running::spawn(command);
    let first_end = attach.until_turn_ended(0).await;

    let port = server.port;
    let token = server.token.clone();
    let dir = server.stop();
    let server = TestServer::spawn(dir.path(), port, &[]).await;
    assert_eq!(server.port, port);
    assert_eq!(server.token, token);

    server.wait_idle(&id).await;
    server.send(&id, "/stream 4").await;
    let second_end = attach.until_turn_ended(first_end).await;
    let frames = attach.frames();
    let hellos = frames
        .iter()
        .filter(|f| matches!(f, ServerFrame::Hello { .. }))
        .count();
    assert!(hellos >= 2, "reconnected: {hellos} hello frames");
    assert!(
        !frames
            .iter()
            .any(|f| matches!(f, ServerFrame::Reset { .. })),
        "resumed by cursor, no reset"
    );
    let last = assert_contiguous(&covered(&frames), 1);
    assert_eq!(last, second_end);
    let log = server.events(&id).await;
    let log_end = log
        .iter()
        .rev()
        .find(|(_, e)| matches!(e, Event::TurnEnded { .. }))
        .unwrap()
        .0;
    assert_eq!(second_end, log_end);
    let mut text = String::new();
    for frame in &frames {
        if let ServerFrame::Event {
            event: Event::AgentMessageChunk { text: t, .. },
            ..
        } = frame
        {
            text.push_str(t);
        }
    }
    assert_eq!(
        text,
        "chunk 1\nchunk 2\nchunk 3\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n"
    );
    attach.kill().await;
    drop(server);
    drop(dir);
}

/// A unique prefix of `id` among `others` (one character more than it shares with any).
fn unique_prefix<'a>(id: &'a str, others: &[&str]) -> &'a str {
    let shared = others
        .iter()
        .map(|o| {
            id.chars()
                .zip(o.chars())
                .take_while(|(a, b)| a == b)
                .count()
        })
        .max()
        .unwrap_or(0);
    &id[..shared + 1]
}

#[tokio::test]
async fn stop_archive_and_unarchive_name_sessions_archived_or_not() {
    let server = TestServer::start().await;
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let keep = ok(&server, home, &["new", "--title", "keep"])
        .await
        .trim()
        .to_owned();
    let shelve = ok(&server, home, &["new", "--title", "shelve"])
        .await
        .trim()
        .to_owned();
    let prefix = unique_prefix(&shelve, &[keep.as_str()]);

    // stop: the agent of a session, named by a prefix; again, it says none runs.
    ok(&server, home, &["send", prefix, "hello"]).await;
    server
        .wait_event(&shelve, |e| matches!(e, Event::TurnEnded { .. }))
        .await;
    let out = ok(&server, home, &["stop", prefix]).await;
    assert!(out.contains("stopping the agent of"), "{out}");
    assert!(out.contains(&shelve), "{out}");
    server
        .wait_summary(&shelve, "stopped", |s| {
            s.status == berth_protocol::Status::Stopped && !s.agent_running
        })
        .await;
    let out = ok(&server, home, &["stop", &shelve]).await;
    assert!(out.contains("no agent was running"), "{out}");
    let listed = ok(&server, home, &["sessions"]).await;
    let line = listed.lines().find(|l| l.contains(&shelve)).unwrap();
    assert!(line.contains("stopped"), "{line}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&server, home, &["stop", &keep, "--json"]).await).unwrap();
    assert_eq!(json["id"], keep.as_str());
    assert_eq!(json["status"], "idle");

    // archive, by a slug prefix: gone from `sessions`, which says one is hidden.
    let slug = server.session(&shelve).await.slug;
    let out = ok(&server, home, &["archive", &slug[..slug.len() - 2]]).await;
    assert!(out.starts_with("archived "), "{out}");
    assert!(server.session(&shelve).await.archived);
    let listed = ok(&server, home, &["sessions"]).await;
    assert!(!listed.contains(&shelve), "{listed}");
    assert!(listed.contains(&keep), "{listed}");
    assert!(listed.contains("1 archived session not shown"), "{listed}");
    let archived = ok(&server, home, &["sessions", "--archived"]).await;
    let line = archived
        .lines()
        .find(|l| l.contains(&shelve))
        .unwrap_or_else(|| panic!("{archived}"));
    assert!(line.contains("(archived)"), "{line}");
    assert!(line.contains("shelve"), "{line}");
    assert!(!archived.contains(&keep), "{archived}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&server, home, &["sessions", "--archived", "--json"]).await)
            .unwrap();
    let sessions = json["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["id"], shelve.as_str());
    assert_eq!(sessions[0]["archived"], true);

    // An archived session can still be named: by prefix (it is no longer listed by
    // default, so the prefix is matched against both lists), to send or unarchive.
    ok(&server, home, &["send", prefix, "still here?"]).await;
    server
        .wait_events(&shelve, 2, |e| matches!(e, Event::TurnEnded { .. }))
        .await;
    let out = ok(&server, home, &["unarchive", prefix]).await;
    assert!(out.starts_with("unarchived "), "{out}");
    assert!(!server.session(&shelve).await.archived);
    let listed = ok(&server, home, &["sessions"]).await;
    assert!(listed.contains(&shelve), "{listed}");
    assert!(!listed.contains("archived"), "{listed}");
    assert!(
        ok(&server, home, &["sessions", "--archived"])
            .await
            .contains("no archived sessions")
    );
    // A prefix shared by an archived and a listed session is ambiguous.
    ok(&server, home, &["archive", &keep]).await;
    let shared = &keep[..unique_prefix(&keep, &[shelve.as_str()]).len() - 1];
    let out = failing_or_ok(&server, home, &["stop", shared]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("matches 2 sessions"),
        "{out:?}"
    );
    for command in ["stop", "archive", "unarchive"] {
        let out = failing_or_ok(&server, home, &[command, "zzzz"]).await;
        assert!(!out.status.success(), "{command}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no session matches"),
            "{command}: {out:?}"
        );
    }
}

#[tokio::test]
async fn send_attaches_files_and_queues_behind_a_running_turn() {
    let server = TestServer::start().await;
    let home = tempfile::tempdir().unwrap();
    let id = server.create_session().await.id;
    let file = home.path().join("notes.txt");
    std::fs::write(&file, "remember the milk").unwrap();
    let running = server.send(&id, "/sleep 1").await;

    // A turn runs: without --queue, send fails (409); with it, it waits its turn.
    let out = failing_or_ok(&server, home.path(), &["send", &id, "hi"]).await;
    assert!(!out.status.success());
    let turn_id = ok(
        &server,
        home.path(),
        &[
            "send",
            &id,
            "/whoami",
            "--queue",
            "--attach",
            file.to_str().unwrap(),
        ],
    )
    .await
    .trim()
    .to_owned();
    assert_ne!(turn_id, running);
    let (_, ended) = server
        .wait_event(
            &id,
            |e| matches!(e, Event::TurnEnded { turn_id: t, .. } if *t == turn_id),
        )
        .await;
    assert!(
        matches!(
            ended,
            Event::TurnEnded {
                stop_reason: StopReason::EndTurn,
                ..
            }
        ),
        "{ended:?}"
    );
    let events = server.events(&id).await;
    let attached = events.iter().find_map(|(_, e)| match e {
        Event::UserMessage {
            turn_id: t,
            attachments,
            ..
        } if *t == turn_id => Some(attachments.clone()),
        _ => None,
    });
    let attached = attached.expect("the queued turn started");
    assert_eq!(attached.len(), 1);
    assert_eq!(
        (
            attached[0].name.as_str(),
            attached[0].mime_type.as_str(),
            attached[0].size
        ),
        ("notes.txt", "text/plain", 17)
    );
    let reply: String = events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::AgentMessageChunk { turn_id: t, text } if *t == turn_id => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(reply.contains("notes.txt (17 bytes)"), "{reply}");

    // A file that is not there: a clear error, nothing sent.
    let out = failing_or_ok(
        &server,
        home.path(),
        &["send", &id, "x", "--attach", "/no/such/file"],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/no/such/file"),
        "{out:?}"
    );
}
