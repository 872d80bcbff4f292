//! Agent config (issue 11): what the demo agent offers (modes `ask`/`code`, a `model`
//! option) is logged and in the summary; `PATCH /sessions/{id}/config` reaches the agent
//! (its `/whoami` says so), waits for it while it is not running, outlives the agent
//! process and a server restart, and refuses what the agent did not offer.

mod support;

use berth_protocol::{ConfigChange, Event, OptionKind, OptionValue, Session};
use serde_json::json;
use support::{TestServer, status_json};

/// The reply text of the turn `turn_id`.
async fn reply(server: &TestServer, id: &str, turn_id: &str) -> String {
    server
        .events(id)
        .await
        .into_iter()
        .filter_map(|(_, event)| match event {
            Event::AgentMessageChunk { turn_id: t, text } if t == turn_id => Some(text),
            _ => None,
        })
        .collect()
}

async fn whoami(server: &TestServer, id: &str) -> String {
    let turn = server.send_and_expect_end_turn(id, "/whoami").await;
    reply(server, id, &turn).await
}

async fn patch(server: &TestServer, id: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    status_json(server.patch(&format!("/sessions/{id}/config")).json(&body)).await
}

fn model_of(session: &Session) -> Option<OptionValue> {
    let config = session.config.as_ref()?;
    Some(config.option("model")?.value.clone())
}

#[tokio::test]
async fn modes_and_models_are_offered_chosen_and_kept() {
    let mut server = TestServer::start().await;
    let id = server.create_session().await.id;

    // Before the agent ever ran nothing is known; a change waits for it (202).
    let (status, body) = patch(
        &server,
        &id,
        json!({"option": "model", "value": "demo-smart"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let waiting: Session = serde_json::from_value(body).unwrap();
    assert_eq!(
        waiting.pending_config,
        [ConfigChange::Option {
            option: "model".into(),
            value: OptionValue::Id("demo-smart".into())
        }]
    );

    // The agent starts with its defaults; berth applies the change before the prompt.
    assert_eq!(
        whoami(&server, &id).await,
        "mode: code · model: demo-smart · attachments: none\n"
    );
    let session = server.session(&id).await;
    assert!(session.pending_config.is_empty());
    assert_eq!(session.mode.as_deref(), Some("code"));
    let config = session.config.clone().expect("the offer is in the summary");
    let modes: Vec<&str> = config.modes.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(modes, ["ask", "code"]);
    let model = config.option("model").unwrap();
    assert_eq!(model.kind, OptionKind::Select);
    assert_eq!(model.category.as_deref(), Some("model"));
    let values: Vec<&str> = model.values.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(values, ["demo-fast", "demo-smart"]);
    assert_eq!(
        model_of(&session),
        Some(OptionValue::Id("demo-smart".into()))
    );

    // With the agent running, a change is applied by the agent before the answer (200).
    let (status, body) = patch(&server, &id, json!({"mode": "ask"})).await;
    assert_eq!(status, 200, "{body}");
    let applied: Session = serde_json::from_value(body).unwrap();
    assert_eq!(applied.mode.as_deref(), Some("ask"));
    assert_eq!(
        whoami(&server, &id).await,
        "mode: ask · model: demo-smart · attachments: none\n"
    );

    // Bad input: each a 400 naming what is wrong, and nothing changes.
    let before = server.events(&id).await.len();
    for (body, words) in [
        (json!({"mode": "yolo"}), "unknown mode `yolo`"),
        (
            json!({"option": "colour", "value": "red"}),
            "unknown option `colour`",
        ),
        (
            json!({"option": "model", "value": "huge"}),
            "has no value `huge`",
        ),
        (json!({"option": "model", "value": 3}), "must be a value id"),
        (
            json!({"option": "model", "value": true}),
            "has no value `true`",
        ),
        (json!({"option": "model"}), "needs a `value`"),
        (json!({}), "give `mode`, or `option`"),
        (json!({"mode": "ask", "option": "model"}), "not both"),
    ] {
        let (status, answer) = patch(&server, &id, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{body}: {message}");
    }
    assert_eq!(server.events(&id).await.len(), before, "nothing logged");
    let (status, _) = patch(&server, "no-such-session", json!({"mode": "ask"})).await;
    assert_eq!(status, 404);

    // The choices outlive the agent process: stopped, it starts again with its
    // defaults, and berth puts the user's choices back.
    let (status, _) = status_json(server.post(&format!("/sessions/{id}/stop"))).await;
    assert_eq!(status, 200);
    server
        .wait_summary(&id, "the agent stopped", |s| !s.agent_running)
        .await;
    assert_eq!(
        whoami(&server, &id).await,
        "mode: ask · model: demo-smart · attachments: none\n"
    );

    // And a server restart: the offer and a waiting change are in the summary columns,
    // and the change is applied when the agent next starts.
    let (status, _) = status_json(server.post(&format!("/sessions/{id}/stop"))).await;
    assert_eq!(status, 200);
    server
        .wait_summary(&id, "the agent stopped", |s| !s.agent_running)
        .await;
    let (status, body) = patch(&server, &id, json!({"mode": "code"})).await;
    assert_eq!(status, 202, "{body}");
    // Checked against the offer the log holds, though the agent is not running.
    let (status, _) = patch(&server, &id, json!({"mode": "yolo"})).await;
    assert_eq!(status, 400);
    let dir = server.stop();
    let server = TestServer::spawn(dir.path(), 0, &[]).await;
    let listed = server.sessions().await;
    let listed = listed.iter().find(|s| s.id == id).expect("listed");
    assert_eq!(
        listed.pending_config,
        [ConfigChange::Mode {
            mode: "code".into()
        }]
    );
    assert_eq!(model_of(listed), Some(OptionValue::Id("demo-smart".into())));
    assert_eq!(
        whoami(&server, &id).await,
        "mode: code · model: demo-smart · attachments: none\n"
    );

    // `GET /agents` gives the demo's offer for a new session's dialog.
    let (status, agents) = status_json(server.get("/agents")).await;
    assert_eq!(status, 200);
    let demo = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "demo")
        .unwrap();
    assert_eq!(demo["config"]["modes"][0]["id"], "ask");
    assert_eq!(demo["config"]["options"][0]["id"], "model");
}
