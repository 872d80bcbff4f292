//! opencode (`opencode-ai`, pinned in scripts/install-agents) end to end through berth,
//! offline against the fake model (OpenAI Chat Completions).
//! Run alone: `cargo test -p berth --test agent_opencode`.

mod support;

use support::real_agents as real;

const AGENT: &str = "opencode";

#[tokio::test]
async fn opencode_streams_a_reply() {
    real::prompt_streams_a_reply(AGENT).await;
}

#[tokio::test]
async fn opencode_permission_is_approved_from_a_late_viewport() {
    real::permission_approved_from_a_late_viewport(AGENT).await;
}

#[tokio::test]
async fn opencode_cancel_stops_a_running_turn() {
    real::cancel_stops_a_running_turn(AGENT).await;
}

#[tokio::test]
async fn opencode_conversation_survives_a_killed_agent() {
    real::resume_after_the_agent_is_killed(AGENT, "resumed", || async {}).await;
}

#[tokio::test]
async fn opencode_modes_and_model_are_offered_and_switched() {
    real::config_reaches_the_agent(AGENT).await;
}

#[tokio::test]
async fn opencode_gets_an_image_and_a_text_file() {
    real::attachments_reach_the_model(AGENT, real::ImagesBesideFiles::Kept).await;
}
