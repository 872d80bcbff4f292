//! Cost and context (issue 11): the agent's usage reports reach the session summary,
//! which REST, `session` frames and the sidebar show, and a restarted server still has
//! them (summary columns) without reading the log.

mod support;

use berth_protocol::{Cost, Event, Usage};
use support::TestServer;

#[tokio::test]
async fn the_agents_last_usage_report_is_in_the_summary_and_survives_a_restart() {
    let mut server = TestServer::start().await;
    let id = server.create_session().await.id;
    assert_eq!(server.session(&id).await.usage, None, "no report yet");

    // The demo agent reports after every turn: 100 tokens plus the prompt's bytes / 4,
    // summed over the session, at $0.000003 a token, in a 200 000-token context.
    server.send_and_expect_end_turn(&id, "hello there").await;
    let first = 100 + "hello there".len() as u64 / 4;
    let expected = |used: u64| Usage {
        used_tokens: used,
        context_size: Some(200_000),
        cost: Some(Cost {
            amount: used as f64 * 0.000_003,
            currency: "USD".into(),
        }),
    };
    assert_eq!(server.session(&id).await.usage, Some(expected(first)));
    server.send_and_expect_end_turn(&id, "/stream 3").await;
    let second = first + 100 + "/stream 3".len() as u64 / 4;
    assert_eq!(server.session(&id).await.usage, Some(expected(second)));
    // The log keeps each report as the agent sent it.
    let reports = server
        .events(&id)
        .await
        .into_iter()
        .filter(|(_, event)| matches!(event, Event::Usage { .. }))
        .count();
    assert_eq!(reports, 2);

    // Listed from its summary columns after a restart, before anything wakes it.
    let dir = server.stop();
    let server = TestServer::spawn(dir.path(), 0, &[]).await;
    let listed = server.sessions().await;
    let listed = listed.iter().find(|s| s.id == id).expect("listed");
    assert_eq!(listed.usage, Some(expected(second)));
}
