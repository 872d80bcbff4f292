//! Prompts end to end (PROTOCOL.md "REST", ARCHITECTURE.md §2.5): permission requests
//! and questions wait for a human whatever viewports come and go, exactly one answer
//! wins, invalid answers change nothing, and cancel resolves what is pending.

mod support;

use std::time::{Duration, Instant};

use berth_protocol::{Event, Outcome, Seq, ServerFrame, Status, StopReason};
use serde_json::{Value, json};
use support::{TestServer, expect_end_turn, status_json, turn_ended};

/// The agent's reply in turn `turn_id`: its message chunks joined.
fn reply_of(events: &[(Seq, Event)], turn_id: &str) -> String {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::AgentMessageChunk { turn_id: t, text } if t == turn_id => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// `prompt_resolved` events of `prompt_id` in the log.
fn resolutions_of(events: &[(Seq, Event)], prompt_id: &str) -> Vec<Outcome> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::PromptResolved {
                prompt_id: p,
                outcome,
            } if p == prompt_id => Some(outcome.clone()),
            _ => None,
        })
        .collect()
}

/// `GET /prompts` as raw JSON (the wire shape, not our types' reading of it).
async fn raw_prompts(server: &TestServer) -> Vec<Value> {
    let response = server.get("/prompts").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["prompts"]
        .as_array()
        .expect("`prompts` is a list")
        .clone()
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

#[tokio::test]
async fn a_permission_request_waits_without_viewers_and_exactly_one_concurrent_answer_wins() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let sid = session.id.as_str();
    let turn_id = server.send(sid, "/permission").await;

    // Nobody is looking: the prompt still waits, owned by the session.
    server.wait_awaiting_input(sid).await;
    let summary = server.session(sid).await;
    assert!(summary.agent_running, "{summary:?}");

    let prompts = raw_prompts(&server).await;
    assert_eq!(prompts.len(), 1, "{prompts:?}");
    let prompt = &prompts[0];
    assert_eq!(prompt["kind"], "permission_requested", "{prompt}");
    assert_eq!(prompt["session"], sid, "{prompt}");
    assert_eq!(prompt["turn_id"], turn_id.as_str(), "{prompt}");
    let option_ids: Vec<&str> = prompt["options"]
        .as_array()
        .expect("options")
        .iter()
        .map(|o| o["option_id"].as_str().unwrap())
        .collect();
    assert_eq!(option_ids, ["allow", "reject"], "{prompt}");
    let option_kinds: Vec<&str> = prompt["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(option_kinds, ["allow_once", "reject_once"], "{prompt}");
    let prompt_id = prompt["prompt_id"].as_str().expect("prompt_id").to_owned();
    let prompt_seq = prompt["seq"].as_u64().expect("seq");
    let log = server.events(sid).await;
    let (asked_seq, asked) = log
        .iter()
        .find(|(_, e)| e.asked_prompt_id() == Some(prompt_id.as_str()))
        .expect("permission_requested in the log");
    assert_eq!(*asked_seq, prompt_seq, "GET /prompts names the event's seq");
    assert!(
        matches!(asked, Event::PermissionRequested { .. }),
        "{asked:?}"
    );
    // The typed reading agrees.
    let typed = server.prompts().await.prompts;
    assert_eq!(typed.len(), 1);
    assert_eq!(typed[0].event, *asked);

    // A viewport that shows up later finds the request in its replay.
    let mut viewport = server.viewport().await;
    viewport.attach(sid, 0).await;
    let attached = viewport
        .next_matching("attached", |f| matches!(f, ServerFrame::Attached { .. }))
        .await;
    if let ServerFrame::Attached { summary, .. } = &attached {
        assert_eq!(summary.status, Status::AwaitingInput, "{summary:?}");
        assert_eq!(summary.pending_prompts, 1, "{summary:?}");
    }
    let replayed = viewport
        .next_matching("the permission request in the replay", |f| {
            matches!(f, ServerFrame::Event { event, .. } if event.asked_prompt_id() == Some(prompt_id.as_str()))
        })
        .await;
    if let ServerFrame::Event { seq, .. } = replayed {
        assert_eq!(seq, prompt_seq);
    }

    // Two tabs answer at once: one wins, the other is told the winner.
    let path = format!("/sessions/{sid}/prompts/{prompt_id}");
    let allow = json!({"option_id": "allow"});
    let reject = json!({"option_id": "reject"});
    let (a, b) = tokio::join!(
        status_json(server.post(&path).json(&allow)),
        status_json(server.post(&path).json(&reject)),
    );
    let ((_, won), (lost_status, lost), winner) = match (a.0, b.0) {
        (200, _) => (a, b, "allow"),
        (_, 200) => (b, a, "reject"),
        _ => panic!("no answer won: {a:?} {b:?}"),
    };
    assert_eq!(lost_status, 409, "{lost}");
    assert_eq!(error_code(&lost), "already_resolved", "{lost}");
    assert_eq!(won["resolved"]["prompt_id"], prompt_id.as_str(), "{won}");
    assert_eq!(
        won["resolved"]["outcome"],
        json!({"option_id": winner}),
        "{won}"
    );
    assert!(won["resolved"]["resolved_at"].is_string(), "{won}");
    assert_eq!(
        lost["error"]["resolution"], won["resolved"],
        "the loser learns the winning resolution"
    );

    expect_end_turn(&server, sid, &turn_id).await;
    let log = server.events(sid).await;
    assert_eq!(
        resolutions_of(&log, &prompt_id),
        vec![Outcome::Selected {
            option_id: winner.into()
        }],
        "exactly one prompt_resolved"
    );
    let reply = reply_of(&log, &turn_id);
    assert!(reply.contains(&format!("You chose: {winner}")), "{reply:?}");

    // The live viewport saw the resolution too.
    viewport
        .next_matching("prompt_resolved live", |f| {
            matches!(f, ServerFrame::Event { event: Event::PromptResolved { prompt_id: p, .. }, .. } if *p == prompt_id)
        })
        .await;

    assert!(raw_prompts(&server).await.is_empty());
    let summary = server.wait_idle(sid).await;
    assert_eq!(summary.status, Status::Idle);
    assert_eq!(summary.pending_prompts, 0);

    // A third answer, after the fact, still learns the same winner.
    let (status, late) = server.answer_prompt(sid, &prompt_id, &allow).await;
    assert_eq!(status, 409, "{late}");
    assert_eq!(late["error"]["resolution"], won["resolved"]);
}

#[tokio::test]
async fn a_question_rejects_invalid_answers_and_takes_one_valid_answer() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let sid = session.id.as_str();
    let turn_id = server.send(sid, "/ask").await;
    server.wait_awaiting_input(sid).await;

    let prompts = raw_prompts(&server).await;
    assert_eq!(prompts.len(), 1, "{prompts:?}");
    let prompt = &prompts[0];
    assert_eq!(prompt["kind"], "question_asked", "{prompt}");
    assert_eq!(prompt["session"], sid);
    assert_eq!(prompt["turn_id"], turn_id.as_str());
    let questions = prompt["questions"].as_array().expect("questions");
    assert_eq!(questions.len(), 1, "{prompt}");
    assert_eq!(questions[0]["id"], "color");
    assert_eq!(questions[0]["options"], json!(["red", "green", "blue"]));
    let prompt_id = prompt["prompt_id"].as_str().unwrap().to_owned();
    let prompt_seq = prompt["seq"].as_u64().unwrap();

    // A viewport attaching later replays the question.
    let mut viewport = server.viewport().await;
    viewport.attach(sid, 0).await;
    viewport
        .next_matching("the question in the replay", |f| {
            matches!(f, ServerFrame::Event { seq, event: Event::QuestionAsked { .. }, .. } if *seq == prompt_seq)
        })
        .await;

    // Invalid answers: 400, and nothing changes.
    let invalid = [
        json!({"answers": {"color": "purple"}}),
        json!({"answers": {"size": "large"}}),
        json!({"answers": {"color": "green", "size": "large"}}),
        json!({"answers": {}}),
        json!({"option_id": "allow"}),
        json!({"option_id": "green"}),
        json!({"cancel": false}),
        json!({"answers": "green"}),
        json!({"answers": {"color": ["green"]}}),
        json!({}),
    ];
    for body in &invalid {
        let (status, error) = server.answer_prompt(sid, &prompt_id, body).await;
        assert_eq!(status, 400, "{body} → {error}");
        assert_eq!(error_code(&error), "bad_request", "{body} → {error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{error}"
        );
    }
    let still = raw_prompts(&server).await;
    assert_eq!(still.len(), 1, "the prompt stays pending");
    assert_eq!(still[0]["prompt_id"], prompt_id.as_str());
    let summary = server.session(sid).await;
    assert_eq!(summary.status, Status::AwaitingInput, "{summary:?}");
    assert_eq!(summary.pending_prompts, 1);
    assert!(resolutions_of(&server.events(sid).await, &prompt_id).is_empty());

    // A valid answer resolves it.
    let (status, won) = server
        .answer_prompt(sid, &prompt_id, &json!({"answers": {"color": "green"}}))
        .await;
    assert_eq!(status, 200, "{won}");
    assert_eq!(won["resolved"]["prompt_id"], prompt_id.as_str());
    assert_eq!(
        won["resolved"]["outcome"],
        json!({"answers": {"color": "green"}})
    );

    // A late answer learns the winner.
    let (status, late) = server
        .answer_prompt(sid, &prompt_id, &json!({"answers": {"color": "red"}}))
        .await;
    assert_eq!(status, 409, "{late}");
    assert_eq!(error_code(&late), "already_resolved");
    assert_eq!(late["error"]["resolution"], won["resolved"]);

    expect_end_turn(&server, sid, &turn_id).await;
    let log = server.events(sid).await;
    let expected = Outcome::Answered {
        answers: [("color".to_owned(), "green".into())].into(),
    };
    assert_eq!(resolutions_of(&log, &prompt_id), vec![expected]);
    let reply = reply_of(&log, &turn_id);
    assert!(reply.contains("You picked: green"), "{reply:?}");
    assert!(raw_prompts(&server).await.is_empty());
    assert_eq!(server.wait_idle(sid).await.status, Status::Idle);
}

/// The demo's `/ask-many`: a multi-select field is a `multiple` question; its answer is a
/// list of distinct offered choices, and the agent gets each choice whole (one holds a
/// comma).
#[tokio::test]
async fn a_multiple_choice_question_takes_a_list_of_choices() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let sid = session.id.as_str();
    let turn_id = server.send(sid, "/ask-many").await;
    server.wait_awaiting_input(sid).await;

    let prompts = raw_prompts(&server).await;
    assert_eq!(prompts.len(), 1, "{prompts:?}");
    let question = &prompts[0]["questions"][0];
    assert_eq!(question["id"], "checks", "{question}");
    assert_eq!(question["multiple"], true, "{question}");
    assert_eq!(
        question["options"],
        json!(["lint", "unit tests", "e2e, in Chromium"])
    );
    let prompt_id = prompts[0]["prompt_id"].as_str().unwrap().to_owned();

    for (body, says) in [
        (json!({"answers": {"checks": ["lint", "lint"]}}), "twice"),
        (json!({"answers": {"checks": ["lint", "mypy"]}}), "`mypy`"),
        (
            json!({"answers": {"checks": []}}),
            "`checks` is not answered",
        ),
        // A string that is no option is a comma list, each choice checked.
        (json!({"answers": {"checks": "lint, mypy"}}), "`mypy`"),
        (
            json!({"answers": {"checks": ["lint", 3]}}),
            "invalid JSON body",
        ),
    ] {
        let (status, error) = server.answer_prompt(sid, &prompt_id, &body).await;
        assert_eq!(status, 400, "{body} → {error}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body} → {error}");
    }
    assert_eq!(
        raw_prompts(&server).await.len(),
        1,
        "the prompt stays pending"
    );

    let chosen = json!(["lint", "e2e, in Chromium"]);
    let (status, won) = server
        .answer_prompt(sid, &prompt_id, &json!({"answers": {"checks": chosen}}))
        .await;
    assert_eq!(status, 200, "{won}");
    assert_eq!(
        won["resolved"]["outcome"],
        json!({"answers": {"checks": chosen}})
    );
    expect_end_turn(&server, sid, &turn_id).await;
    let log = server.events(sid).await;
    let expected = Outcome::Answered {
        answers: [(
            "checks".to_owned(),
            vec!["lint".to_owned(), "e2e, in Chromium".to_owned()].into(),
        )]
        .into(),
    };
    assert_eq!(resolutions_of(&log, &prompt_id), vec![expected]);
    let reply = reply_of(&log, &turn_id);
    assert!(
        reply.contains(r#"You picked: ["lint", "e2e, in Chromium"]"#),
        "{reply:?}"
    );
}

#[tokio::test]
async fn answers_to_unknown_prompts_or_sessions_are_not_found() {
    let server = TestServer::start().await;
    let a = server.create_session().await;
    let b = server.create_session().await;
    let answer = json!({"option_id": "allow"});

    let (status, body) = server.answer_prompt(&a.id, "no-such-prompt", &answer).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(error_code(&body), "not_found");

    let (status, body) = server
        .answer_prompt("no-such-session", "no-such-prompt", &answer)
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(error_code(&body), "not_found");

    // A real prompt, asked through the wrong session, is not found there either.
    let turn_id = server.send(&a.id, "/permission").await;
    let prompt_id = server.wait_pending_prompt(&a.id).await;
    let (status, body) = server.answer_prompt(&b.id, &prompt_id, &answer).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(error_code(&body), "not_found");
    let (status, body) = server
        .answer_prompt("no-such-session", &prompt_id, &answer)
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        server.session(&a.id).await.pending_prompts,
        1,
        "still pending"
    );

    // An unknown option of a real permission request is a bad request, not a 404.
    let (status, body) = server
        .answer_prompt(&a.id, &prompt_id, &json!({"option_id": "maybe"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "bad_request");

    // `{"cancel": true}` is an answer too: the agent hears "cancelled" and carries on.
    let (status, body) = server
        .answer_prompt(&a.id, &prompt_id, &json!({"cancel": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resolved"]["outcome"], json!({"cancelled": true}));
    expect_end_turn(&server, &a.id, &turn_id).await;
    let reply = reply_of(&server.events(&a.id).await, &turn_id);
    assert!(reply.contains("Permission cancelled"), "{reply:?}");
}

#[tokio::test]
async fn cancel_resolves_a_pending_permission_and_ends_the_turn() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let sid = session.id.as_str();
    let turn_id = server.send(sid, "/permission").await;
    let prompt_id = server.wait_pending_prompt(sid).await;

    let started = Instant::now();
    let (status, body) = server.cancel_turn(sid).await;
    assert_eq!(status, 202, "{body}");
    let (_, reason, _) = turn_ended(&server, sid, &turn_id).await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "cancel took {:?}",
        started.elapsed()
    );
    assert_eq!(reason, StopReason::Cancelled);

    let log = server.events(sid).await;
    assert_eq!(resolutions_of(&log, &prompt_id), vec![Outcome::cancelled()]);
    let resolved_seq = log
        .iter()
        .find(|(_, e)| matches!(e, Event::PromptResolved { prompt_id: p, .. } if *p == prompt_id))
        .unwrap()
        .0;
    let ended_seq = log
        .iter()
        .find(|(_, e)| matches!(e, Event::TurnEnded { .. }))
        .unwrap()
        .0;
    assert!(
        resolved_seq < ended_seq,
        "the prompt is resolved before its turn ends"
    );

    let summary = server.wait_idle(sid).await;
    assert_eq!(summary.status, Status::Idle, "{summary:?}");
    assert_eq!(summary.pending_prompts, 0);
    assert!(raw_prompts(&server).await.is_empty());

    // Answering now learns that cancel won.
    let (status, body) = server
        .answer_prompt(sid, &prompt_id, &json!({"option_id": "allow"}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(error_code(&body), "already_resolved");
    assert_eq!(
        body["error"]["resolution"]["outcome"],
        json!({"cancelled": true})
    );

    // Nothing runs: cancel is a conflict.
    let (status, body) = server.cancel_turn(sid).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(error_code(&body), "conflict");

    // And the session takes the next prompt.
    server.send_and_expect_end_turn(sid, "hello").await;
}

#[tokio::test]
async fn an_attached_viewport_sees_the_session_await_input_and_come_back() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let sid = session.id.clone();
    let mut viewport = server.viewport().await;
    viewport.attach(&sid, 0).await;
    viewport
        .next_matching("attached", |f| matches!(f, ServerFrame::Attached { .. }))
        .await;

    let turn_id = server.send(&sid, "/permission").await;
    let awaiting = viewport
        .next_matching("a session frame with awaiting_input", |f| {
            matches!(f, ServerFrame::Session { summary } if summary.id == sid
                && summary.status == Status::AwaitingInput
                && summary.pending_prompts == 1)
        })
        .await;
    if let ServerFrame::Session { summary } = awaiting {
        assert!(summary.viewers >= 1, "{summary:?}");
    }

    let prompt_id = raw_prompts(&server).await[0]["prompt_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = server
        .answer_prompt(&sid, &prompt_id, &json!({"option_id": "allow"}))
        .await;
    assert_eq!(status, 200, "{body}");
    viewport
        .next_matching("a session frame back to idle", |f| {
            matches!(f, ServerFrame::Session { summary } if summary.id == sid
                && summary.status == Status::Idle
                && summary.pending_prompts == 0)
        })
        .await;
    expect_end_turn(&server, &sid, &turn_id).await;
}

#[tokio::test]
async fn an_answer_racing_a_cancel_resolves_the_prompt_once() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    let sid = session.id.as_str();
    let turn_id = server.send(sid, "/permission").await;
    let prompt_id = server.wait_pending_prompt(sid).await;

    let allow = json!({"option_id": "allow"});
    let ((answer_status, answer), (cancel_status, cancel)) = tokio::join!(
        server.answer_prompt(sid, &prompt_id, &allow),
        server.cancel_turn(sid),
    );
    let (_, reason, _) = turn_ended(&server, sid, &turn_id).await;
    match cancel_status {
        202 => assert_eq!(
            reason,
            StopReason::Cancelled,
            "cancel was accepted, so the turn ends cancelled"
        ),
        // The answer won and the agent finished its turn before the cancel got there.
        409 => {
            assert_eq!(error_code(&cancel), "conflict", "{cancel}");
            assert_eq!(answer_status, 200, "{answer}");
            assert_eq!(reason, StopReason::EndTurn);
        }
        other => panic!("unexpected cancel answer {other}: {cancel}"),
    }
    let log = server.events(sid).await;
    let outcomes = resolutions_of(&log, &prompt_id);
    assert_eq!(
        outcomes.len(),
        1,
        "exactly one prompt_resolved: {outcomes:?}"
    );
    match answer_status {
        200 => {
            assert_eq!(answer["resolved"]["outcome"], json!({"option_id": "allow"}));
            assert_eq!(
                outcomes[0],
                Outcome::Selected {
                    option_id: "allow".into()
                }
            );
        }
        409 => {
            assert_eq!(error_code(&answer), "already_resolved", "{answer}");
            assert_eq!(
                answer["error"]["resolution"]["outcome"],
                json!({"cancelled": true})
            );
            assert_eq!(outcomes[0], Outcome::cancelled());
        }
        other => panic!("unexpected answer {other}: {answer}"),
    }
    assert!(raw_prompts(&server).await.is_empty());
    assert_eq!(server.wait_idle(sid).await.status, Status::Idle);
}
