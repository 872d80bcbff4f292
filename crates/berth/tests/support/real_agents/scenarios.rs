//! The scenarios every real-agent test runs (and Claude's question), each against a
//! fresh agent, server and fake model.

use serde_json::{Value, json};

use super::{
    RealAgent, attach_raw, brief_log, fake_model, kill9, next_event_json, of_turn, reply_of,
};
use crate::support::status_json;

/// A prompt streams a reply: the live viewport sees the text arrive, the log has it in
/// several chunks, and the fake model got the prompt.
pub async fn prompt_streams_a_reply(agent: &str) {
    let run = RealAgent::start(agent).await;
    let sid = run.create_session().await;
    let mut viewport = run.server.viewport().await;
    attach_raw(&mut viewport, &sid).await;
    let turn = run.send(&sid, "say hello, please").await;

    // Live: the chunks reach the attached viewport before the turn ends.
    let (_, seen) = next_event_json(&mut viewport, &sid, "turn_ended", |e| {
        e["kind"] == "turn_ended" && e["turn_id"] == turn.as_str()
    })
    .await;
    let live: String = seen
        .iter()
        .filter(|e| e["kind"] == "agent_message_chunk" && e["turn_id"] == turn.as_str())
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert!(live.contains(fake_model::HELLO), "live text {live:?}");

    let reply = run.finished_reply(&sid, &turn).await;
    assert!(reply.contains(fake_model::HELLO), "reply {reply:?}");
    let events = run.events(&sid).await;
    let chunks = of_turn(&events, &turn, "agent_message_chunk");
    assert!(
        chunks.len() >= 2,
        "the reply was not streamed in several chunks: {chunks:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "user_message" && e["turn_id"] == turn.as_str()),
        "no user_message: {}",
        brief_log(&events)
    );
    assert!(
        !run.fake.turn_requests("say hello, please").is_empty(),
        "the model never got the prompt: {}",
        run.fake.summary()
    );
}

/// A tool call that needs permission: a viewport that attaches after the request was
/// made finds it in its replay, approves it, and sees the tool complete; the tool really
/// ran (its file exists) and the model got its result.
pub async fn permission_approved_from_a_late_viewport(agent: &str) {
    let run = RealAgent::start(agent).await;
    let sid = run.create_session().await;
    let turn = run.send(&sid, "run tool now").await;

    // Nobody is watching when the request arrives.
    let asked = run
        .wait_event(&sid, "permission_requested", |e| {
            e["kind"] == "permission_requested" && e["turn_id"] == turn.as_str()
        })
        .await;
    let prompt_id = asked["prompt_id"].as_str().expect("prompt_id").to_owned();
    let (_, pending) = status_json(run.server.get("/prompts")).await;
    assert!(
        pending["prompts"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["prompt_id"] == prompt_id.as_str())),
        "GET /prompts lacks {prompt_id}: {pending}"
    );
    assert!(
        !run.workdir.join(fake_model::TOOL_FILE).exists(),
        "the tool ran before it was approved"
    );

    // A viewport arrives late and finds the request in its replay.
    let mut viewport = run.server.viewport().await;
    attach_raw(&mut viewport, &sid).await;
    let (replayed, _) = next_event_json(&mut viewport, &sid, "the request in the replay", |e| {
        e["kind"] == "permission_requested" && e["prompt_id"] == prompt_id.as_str()
    })
    .await;
    let options = replayed["options"].as_array().expect("options").clone();
    let allow = options
        .iter()
        .find(|o| o["kind"] == "allow_once")
        .unwrap_or_else(|| panic!("no allow_once option: {replayed}"));
    let option_id = allow["option_id"].as_str().unwrap();
    let tool_call_id = replayed["tool_call_id"].as_str().map(str::to_owned);

    let (status, body) = run
        .server
        .answer_prompt(&sid, &prompt_id, &json!({"option_id": option_id}))
        .await;
    assert_eq!(status, 200, "{body}");

    // The same viewport sees the answer and then the tool complete.
    let (done, seen) = next_event_json(&mut viewport, &sid, "the tool to complete", |e| {
        e["kind"] == "tool_call_update"
            && e["status"] == "completed"
            && tool_call_id
                .as_deref()
                .is_none_or(|id| e["tool_call_id"] == id)
    })
    .await;
    assert!(
        seen.iter()
            .any(|e| e["kind"] == "prompt_resolved" && e["prompt_id"] == prompt_id.as_str()),
        "no prompt_resolved before {done}: {}",
        brief_log(&seen)
    );
    let reply = run.finished_reply(&sid, &turn).await;
    let written = std::fs::read_to_string(run.workdir.join(fake_model::TOOL_FILE))
        .unwrap_or_else(|e| panic!("the tool did not write its file: {e}"));
    assert_eq!(written.trim(), fake_model::TOOL_MARK);
    assert!(reply.contains(fake_model::AFTER_TOOL), "reply {reply:?}");
    let after_tool = run
        .fake
        .model_requests()
        .into_iter()
        .filter(|r| r.conversation().ends_with_tool_result)
        .count();
    assert!(
        after_tool >= 1,
        "the model never got the tool result: {}",
        run.fake.summary()
    );
}

/// Cancel while the model is still streaming: the turn ends `cancelled` long before the
/// stream would have, and the session takes the next prompt.
pub async fn cancel_stops_a_running_turn(agent: &str) {
    let run = RealAgent::start(agent).await;
    let sid = run.create_session().await;
    let turn = run.send(&sid, "slow answer please").await;
    run.wait_event(&sid, "the slow stream to start", |e| {
        e["kind"] == "agent_message_chunk"
            && e["turn_id"] == turn.as_str()
            && e["text"]
                .as_str()
                .is_some_and(|t| t.contains(fake_model::SLOW_CHUNK.trim()))
    })
    .await;
    let (status, body) = run.server.cancel_turn(&sid).await;
    assert_eq!(status, 202, "{body}");
    let ended = run.turn_ended(&sid, &turn).await;
    assert_eq!(ended["stop_reason"], "cancelled", "{ended}");
    let events = run.events(&sid).await;
    let slow_chunks = reply_of(&events, &turn)
        .matches(fake_model::SLOW_CHUNK.trim())
        .count();
    assert!(
        slow_chunks < 1200,
        "the whole slow stream arrived: cancel did not stop it"
    );

    // The session is usable again.
    let next = run.send(&sid, "say hello after the cancel").await;
    let reply = run.finished_reply(&sid, &next).await;
    assert!(reply.contains(fake_model::HELLO), "reply {reply:?}");
}

/// Kill the agent process: the next prompt starts it again and the conversation goes
/// on, checked on the model's side (the earlier prompt is in the new request's history).
/// The new agent process must have got its conversation back the way `origin` says
/// (`agent_started.session_origin`: `resumed` or `loaded`), and a `loaded` replay must
/// not reach the log. `before_kill` runs after the first turn (the Gemini test uses it
/// to step around a Gemini CLI bug, see there).
pub async fn resume_after_the_agent_is_killed<F, Fut>(agent: &str, origin: &str, before_kill: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let run = RealAgent::start(agent).await;
    let sid = run.create_session().await;
    let first = run.send(&sid, "say hello, marker alpha-7").await;
    let reply = run.finished_reply(&sid, &first).await;
    assert!(reply.contains(fake_model::HELLO), "reply {reply:?}");
    before_kill().await;

    let pids = run.agent_pids(&sid).await;
    let pid = *pids.last().expect("an agent_started with its pid");
    kill9(pid);
    run.wait_event(&sid, "agent_exited", |e| e["kind"] == "agent_exited")
        .await;

    let second = run.send(&sid, "say hello again, marker omega-9").await;
    let reply = run.finished_reply(&sid, &second).await;
    // Exactly this turn's answer: a replayed history would repeat the earlier one.
    assert_eq!(
        reply.matches(fake_model::HELLO).count(),
        1,
        "reply {reply:?}"
    );
    let pids_after = run.agent_pids(&sid).await;
    assert!(
        pids_after.len() > pids.len() && !pids_after[pids.len()..].contains(&pid),
        "no new agent process: {pids:?} then {pids_after:?}"
    );
    let events = run.events(&sid).await;
    let restarted = events
        .iter()
        .rev()
        .find(|e| e["kind"] == "agent_started")
        .unwrap();
    assert_eq!(
        restarted["session_origin"], origin,
        "how the restarted agent got its conversation: {restarted}"
    );
    let killed_at = events
        .iter()
        .position(|e| e["kind"] == "agent_exited")
        .unwrap();
    // (A title the agent derived from the first prompt may legitimately come again.)
    let is_message = |e: &Value| {
        matches!(
            e["kind"].as_str(),
            Some("user_message" | "agent_message_chunk" | "agent_thought_chunk")
        ) || e["update"]["sessionUpdate"]
            .as_str()
            .is_some_and(|u| u.ends_with("_message_chunk"))
    };
    // Every message after the restart belongs to the new turn and is not the old one.
    let replayed: Vec<&Value> = events[killed_at..]
        .iter()
        .filter(|e| {
            is_message(e) && (e["turn_id"] != second.as_str() || e.to_string().contains("alpha-7"))
        })
        .collect();
    assert!(
        replayed.is_empty(),
        "the earlier conversation was logged again after the restart: {replayed:?}"
    );

    let requests = run.fake.turn_requests("omega-9");
    assert!(
        !requests.is_empty(),
        "no model request for the second prompt: {}",
        run.fake.summary()
    );
    for request in &requests {
        let conversation = request.conversation();
        let earlier = conversation.user_text_position("alpha-7");
        let later = conversation.user_text_position("omega-9");
        assert!(
            matches!((earlier, later), (Some(a), Some(b)) if a < b),
            "the request after the restart lacks the earlier prompt: user texts {:?}",
            conversation
                .user_texts
                .iter()
                .map(|t| t.chars().take(80).collect::<String>())
                .collect::<Vec<_>>()
        );
    }
    // The earlier reply came back too (the agent's own history, not only ours).
    let body = requests[0].body.to_string();
    assert!(
        body.contains(fake_model::HELLO),
        "the earlier reply is not in the history"
    );
}

/// The question the turn asked: the event, its prompt id and its questions.
async fn question_of(run: &RealAgent, sid: &str, turn: &str) -> (Value, String, Vec<Value>) {
    let asked = run
        .wait_event(sid, "question_asked", |e| {
            e["kind"] == "question_asked" && e["turn_id"] == turn
        })
        .await;
    let prompt_id = asked["prompt_id"].as_str().expect("prompt_id").to_owned();
    let questions = asked["questions"].as_array().expect("questions").clone();
    (asked, prompt_id, questions)
}

/// `answers` as a form submits them: `value` for `question_id`, every other field (Claude
/// adds a free-text "Other" box per question) left empty.
fn form_answers(
    questions: &[Value],
    question_id: &str,
    value: Value,
) -> serde_json::Map<String, Value> {
    questions
        .iter()
        .map(|q| {
            let id = q["id"].as_str().expect("question id");
            let answer = if id == question_id {
                value.clone()
            } else {
                json!("")
            };
            (id.to_owned(), answer)
        })
        .collect()
}

/// The tool result each model request ended with (what the model was told a tool gave).
fn last_tool_results(run: &RealAgent) -> Vec<String> {
    run.fake
        .model_requests()
        .into_iter()
        .filter_map(|r| {
            let c = r.conversation();
            c.ends_with_tool_result
                .then(|| c.tool_results.last().cloned())
                .flatten()
        })
        .collect()
}

/// (Claude) The model asks a question with AskUserQuestion: it reaches berth as
/// `question_asked`, is answered over REST, and the model gets the chosen answer back in
/// the tool result.
pub async fn question_answered(agent: &str) {
    let run = RealAgent::start(agent).await;
    let sid = run.create_session().await;
    let turn = run.send(&sid, "ask me a question").await;
    let (asked, prompt_id, questions) = question_of(&run, &sid, &turn).await;
    let with_options = questions
        .iter()
        .find(|q| {
            q["options"]
                .as_array()
                .is_some_and(|os| os.iter().any(|o| o == fake_model::QUESTION_OPTIONS[1]))
        })
        .unwrap_or_else(|| panic!("no question offering the colours: {asked}"));
    let shown = format!("{}{}", asked["message"], with_options["question"]);
    assert!(shown.contains(fake_model::QUESTION), "{asked}");
    let question_id = with_options["id"].as_str().expect("question id");

    // Submitted as a form would be: the colour picked, every other field (Claude adds a
    // free-text "Other" box per question) left empty.
    let answer = fake_model::QUESTION_OPTIONS[1];
    let answers = form_answers(&questions, question_id, json!(answer));
    let (status, body) = run
        .server
        .answer_prompt(&sid, &prompt_id, &json!({ "answers": answers }))
        .await;
    assert_eq!(status, 200, "answering {asked}: {body}");
    run.finished_reply(&sid, &turn).await;

    let results = last_tool_results(&run);
    assert!(
        results
            .iter()
            .any(|r| r.contains(fake_model::QUESTION) && r.contains(&format!("\"{answer}\""))),
        "no tool result carries the answer {answer:?}: {results:?}"
    );
}

/// (Claude) The model asks a multi-select question (AskUserQuestion with `multiSelect`):
/// it reaches berth as a `multiple` question, two choices (one holding a comma) are sent
/// as a list over REST, and the tool result the model gets holds both, each whole.
pub async fn multiple_choice_question_answered(agent: &str) {
    let run = RealAgent::start(agent).await;
    let sid = run.create_session().await;
    let turn = run.send(&sid, "ask several questions").await;
    let (asked, prompt_id, questions) = question_of(&run, &sid, &turn).await;
    let multiple = questions
        .iter()
        .find(|q| q["multiple"] == true)
        .unwrap_or_else(|| panic!("no multiple question: {asked}"));
    assert_eq!(
        multiple["options"],
        json!(fake_model::MULTI_OPTIONS),
        "{asked}"
    );
    let shown = format!("{}{}", asked["message"], multiple["question"]);
    assert!(shown.contains(fake_model::MULTI_QUESTION), "{asked}");
    let question_id = multiple["id"].as_str().expect("question id");

    // As a form submits it: two boxes ticked, every other field left empty.
    let chosen = [fake_model::MULTI_OPTIONS[0], fake_model::MULTI_OPTIONS[2]];
    let answers = form_answers(&questions, question_id, json!(chosen));
    let (status, body) = run
        .server
        .answer_prompt(&sid, &prompt_id, &json!({ "answers": answers }))
        .await;
    assert_eq!(status, 200, "answering {asked}: {body}");
    assert_eq!(
        body["resolved"]["outcome"]["answers"][question_id],
        json!(chosen)
    );
    run.finished_reply(&sid, &turn).await;

    let results = last_tool_results(&run);
    // claude-agent-acp 0.100.0 joins a multi-select's picks the way Claude Code's own UI
    // does: `, `-separated, a pick holding `, ` (or `"`) JSON-quoted, so each stays
    // whole: `lint, "Yes, with tests"`. Split on commas, it would read `lint, Yes, with
    // tests` (three picks); sent as one string, `"lint, Yes, with tests"` (one).
    let joined: Vec<String> = chosen
        .iter()
        .map(|c| {
            if c.contains(", ") || c.contains('"') {
                serde_json::to_string(c).unwrap()
            } else {
                (*c).to_owned()
            }
        })
        .collect();
    let expected = format!(
        "\"{}\"=\"{}\"",
        fake_model::MULTI_QUESTION,
        joined.join(", ")
    );
    assert!(
        results.iter().any(|r| r.contains(&expected)),
        "no tool result carries both choices as {expected}: {results:?}"
    );
}

/// Agent config: what the agent offers as its session opens is in the summary, and
/// switching its mode and its model goes through the agent: the summary says so, and
/// the next turn's request to the fake model names the chosen model where the agent
/// passes it. Returns the offer (for the record in docs/NOTES.md).
pub async fn config_reaches_the_agent(agent: &str) -> Value {
    let run = RealAgent::start(agent).await;
    let sid = run.create_session().await;
    let turn = run.send(&sid, "say hello, please").await;
    run.finished_reply(&sid, &turn).await;
    let (_, summary) = status_json(run.server.get(&format!("/sessions/{sid}"))).await;
    let config = summary["config"].clone();
    eprintln!(
        "{agent} offers: mode {} of {}",
        summary["mode"],
        serde_json::to_string_pretty(&config).unwrap()
    );
    assert!(config.is_object(), "{agent} offered nothing: {summary}");

    // A mode other than the current one, where there are modes. An agent may refuse
    // some (Gemini CLI: no auto-approving modes in an untrusted folder): the refusal is
    // a 502 with the agent's words, and another mode is tried.
    let modes = config["modes"].as_array().cloned().unwrap_or_default();
    let others: Vec<&str> = modes
        .iter()
        .filter_map(|m| m["id"].as_str())
        .filter(|id| Some(*id) != summary["mode"].as_str())
        .collect();
    let mut switched = others.is_empty();
    for other in others {
        let (status, body) = status_json(
            run.server
                .patch(&format!("/sessions/{sid}/config"))
                .json(&json!({"mode": other})),
        )
        .await;
        if status == 502 {
            assert_eq!(body["error"]["code"], "agent_error", "{agent}: {body}");
            eprintln!("{agent} refused mode {other}: {}", body["error"]["message"]);
            continue;
        }
        assert_eq!(status, 200, "{agent}: set mode {other}: {body}");
        assert_eq!(body["mode"], other, "{agent}: {body}");
        switched = true;
        break;
    }
    assert!(switched, "{agent} took none of its modes");

    // A model other than the current one, where there is a model option.
    let options = config["options"].as_array().cloned().unwrap_or_default();
    let Some(model) = options.iter().find(|o| o["category"] == "model") else {
        return config;
    };
    let Some(other) = model["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["id"].as_str())
        .filter(|id| Some(*id) != model["value"].as_str())
        // One the fake model serves (the setups offer two), not one on the internet.
        .min_by_key(|id| (!id.contains("fake"), *id == "auto"))
    else {
        return config;
    };
    let (status, body) = status_json(
        run.server
            .patch(&format!("/sessions/{sid}/config"))
            .json(&json!({"option": model["id"], "value": other})),
    )
    .await;
    assert_eq!(status, 200, "{agent}: set model {other}: {body}");
    let now = body["config"]["options"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["id"] == model["id"])
        .map(|o| o["value"].clone());
    assert_eq!(now, Some(json!(other)), "{agent}: {body}");
    let turn = run.send(&sid, "say hello with the other model").await;
    run.finished_reply(&sid, &turn).await;
    let requests: Vec<_> = run
        .fake
        .model_requests()
        .into_iter()
        .filter(|r| {
            r.conversation()
                .user_texts
                .iter()
                .any(|t| t.contains("say hello with the other model"))
        })
        .collect();
    // In the body (Anthropic, OpenAI) or the path (Gemini: `/models/<name>:…`).
    let models: Vec<String> = requests
        .iter()
        .map(|r| match r.body["model"].as_str() {
            Some(model) => model.to_owned(),
            None => r.path.clone(),
        })
        .collect();
    eprintln!("{agent}: the fake model saw models {models:?} after choosing {other}");
    // Agents name models their own way (a provider prefix, an alias): the request
    // carries the chosen one's last path segment.
    let wanted = other.rsplit('/').next().unwrap_or(other);
    assert!(
        models.iter().any(|m| m.contains(wanted)),
        "{agent}: chose {other}, the model was asked as {models:?}; the log:\n{}\nthe model saw:\n{}",
        brief_log(&run.events(&sid).await),
        run.fake.summary()
    );
    config
}

/// A 1×1 PNG, and its base64 as an agent would pass it on.
const PNG: [u8; 70] = [
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0,
    0, 0, 31, 21, 196, 137, 0, 0, 0, 13, 73, 68, 65, 84, 120, 218, 99, 100, 248, 207, 80, 15, 0, 3,
    134, 1, 128, 90, 52, 125, 107, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];
const PNG_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
/// What the text file says: it must reach the model in the agent's request.
const NOTE: &str = "berth attachment note: the answer is 4217";

/// How an agent treats an image sent beside a file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ImagesBesideFiles {
    Kept,
    /// Gemini CLI 0.61: when a prompt holds a file (an embedded resource or a link) it
    /// rebuilds the request from the text and the files alone, and the image is lost
    /// (`#resolvePrompt` in its bundle). An image sent alone reaches the model.
    Dropped,
}

/// Attachments: an image and a text file uploaded to the session and sent with a
/// prompt reach the model in the agent's request (the image's bytes, the file's text);
/// then an image alone does.
pub async fn attachments_reach_the_model(agent: &str, images: ImagesBesideFiles) {
    let run = RealAgent::start(agent).await;
    let sid = run.create_session().await;
    let mut ids = Vec::new();
    for (name, mime, bytes) in [
        ("dot.png", "image/png", PNG.to_vec()),
        ("note.txt", "text/plain", NOTE.as_bytes().to_vec()),
    ] {
        let (status, body) = status_json(
            run.server
                .post(&format!("/sessions/{sid}/uploads"))
                .query(&[("name", name)])
                .header("content-type", mime)
                .body(bytes),
        )
        .await;
        assert_eq!(status, 201, "{agent}: upload {name}: {body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let (status, body) = status_json(
        run.server
            .post(&format!("/sessions/{sid}/turns"))
            .json(&json!({"text": "say hello about the attached files", "attachments": ids})),
    )
    .await;
    assert_eq!(status, 202, "{agent}: {body}");
    let turn = body["turn_id"].as_str().unwrap().to_owned();
    run.finished_reply(&sid, &turn).await;
    let events = run.events(&sid).await;
    let message = events
        .iter()
        .find(|e| e["kind"] == "user_message" && e["turn_id"] == turn.as_str())
        .expect("user_message");
    assert_eq!(message["attachments"][0]["name"], "dot.png", "{message}");
    assert_eq!(message["attachments"][1]["size"], NOTE.len(), "{message}");

    let bodies: Vec<String> = run
        .fake
        .model_requests()
        .iter()
        .map(|r| r.body.to_string())
        .filter(|body| body.contains("say hello about the attached files"))
        .collect();
    assert!(
        !bodies.is_empty(),
        "{agent}: the prompt never reached the model: {}",
        run.fake.summary()
    );
    assert!(
        bodies.iter().any(|b| b.contains(NOTE)),
        "{agent}: the text file's words are not in the model request: {}",
        bodies[0].chars().take(3000).collect::<String>()
    );
    let image_in = |bodies: &[String]| {
        bodies
            .iter()
            .any(|b| b.contains(PNG_BASE64.trim_end_matches('=')))
    };
    assert_eq!(
        image_in(&bodies),
        images == ImagesBesideFiles::Kept,
        "{agent}: the image beside the file: {}",
        bodies
            .last()
            .unwrap()
            .chars()
            .take(3000)
            .collect::<String>()
    );

    // The image alone.
    let (status, body) = status_json(
        run.server
            .post(&format!("/sessions/{sid}/turns"))
            .json(&json!({"text": "say hello about the picture", "attachments": [ids[0]]})),
    )
    .await;
    assert_eq!(status, 202, "{agent}: {body}");
    let turn = body["turn_id"].as_str().unwrap().to_owned();
    run.finished_reply(&sid, &turn).await;
    let bodies: Vec<String> = run
        .fake
        .model_requests()
        .iter()
        .map(|r| r.body.to_string())
        .filter(|body| body.contains("say hello about the picture"))
        .collect();
    assert!(
        image_in(&bodies),
        "{agent}: the image alone is not in the model request: {}",
        bodies
            .last()
            .map(|b| b.chars().take(3000).collect::<String>())
            .unwrap_or_default()
    );
}
