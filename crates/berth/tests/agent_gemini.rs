//! Gemini CLI (`@google/gemini-cli`, pinned in scripts/install-agents, run as
//! `gemini --acp`) end to end through berth, offline against the fake model
//! (`streamGenerateContent`).
//! Run alone: `cargo test -p berth --test agent_gemini`.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::real_agents as real;

const AGENT: &str = "gemini";

#[tokio::test]
async fn gemini_streams_a_reply() {
    real::prompt_streams_a_reply(AGENT).await;
}

#[tokio::test]
async fn gemini_permission_is_approved_from_a_late_viewport() {
    real::permission_approved_from_a_late_viewport(AGENT).await;
}

#[tokio::test]
async fn gemini_cancel_stops_a_running_turn() {
    real::cancel_stops_a_running_turn(AGENT).await;
}

/// Gemini CLI offers `session/load`, not `session/resume`. Its `session/load` (0.61.0)
/// first opens a fresh chat recording for the session id, in a file named after the
/// current minute and the id (`session-<YYYY-MM-DDTHH-MM>-<id8>.jsonl`): in the minute
/// the session was created that is the session's own file, whose history it resets, and
/// the load then fails with "No previous sessions found for this project". So the agent
/// is killed only once the wall-clock minute has moved on; the load then works.
#[tokio::test]
async fn gemini_conversation_survives_a_killed_agent() {
    real::resume_after_the_agent_is_killed(AGENT, "loaded", wait_for_the_next_minute).await;
}

fn minute_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 60
}

async fn wait_for_the_next_minute() {
    let start = minute_now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(65);
    while minute_now() == start {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the clock stood still"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn gemini_modes_and_model_are_offered_and_switched() {
    real::config_reaches_the_agent(AGENT).await;
}

#[tokio::test]
async fn gemini_gets_an_image_and_a_text_file() {
    // Gemini CLI drops an image sent beside a file (see `ImagesBesideFiles`).
    real::attachments_reach_the_model(AGENT, real::ImagesBesideFiles::Dropped).await;
}
