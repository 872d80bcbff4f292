//! The happy path end to end: a real server, the real demo agent process.

mod support;

use berth_protocol::{Event, StopReason};
use support::TestServer;

#[tokio::test]
async fn a_default_prompt_streams_a_reply_and_ends_the_turn() {
    let server = TestServer::start().await;
    let session = server.create_session().await;
    server.send(&session.id, "hello").await;
    server
        .wait_event(&session.id, |e| matches!(e, Event::TurnEnded { .. }))
        .await;
    let events = server.events(&session.id).await;
    let seqs: Vec<_> = events.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "dense seqs"
    );
    let kinds: Vec<_> = events.iter().map(|(_, e)| e.kind()).collect();
    assert_eq!(
        &kinds[..3],
        ["session_created", "user_message", "turn_started"]
    );
    assert!(kinds.contains(&"agent_message_chunk"), "{kinds:?}");
    assert!(kinds.contains(&"agent_started"), "{kinds:?}");
    assert!(kinds.contains(&"tool_call"), "{kinds:?}");
    assert!(kinds.contains(&"plan"), "{kinds:?}");
    assert!(matches!(
        events.last().unwrap().1,
        Event::TurnEnded {
            stop_reason: StopReason::EndTurn,
            ..
        }
    ));
    let summary = server.wait_idle(&session.id).await;
    assert_eq!(summary.status, berth_protocol::Status::Idle);
    assert!(summary.agent_running);
    assert_eq!(summary.unread, summary.last_seq);
}
