//! Claude Code (`@agentclientprotocol/claude-agent-acp`, pinned in scripts/install-agents)
//! end to end through berth, offline against the fake model (Anthropic Messages).
//! Run alone: `cargo test -p berth --test agent_claude`.

mod support;

use support::real_agents as real;

const AGENT: &str = "claude";

#[tokio::test]
async fn claude_streams_a_reply() {
    real::prompt_streams_a_reply(AGENT).await;
}

#[tokio::test]
async fn claude_permission_is_approved_from_a_late_viewport() {
    real::permission_approved_from_a_late_viewport(AGENT).await;
}

#[tokio::test]
async fn claude_question_is_answered() {
    real::question_answered(AGENT).await;
}

#[tokio::test]
async fn claude_multiple_choice_question_is_answered_with_two_choices() {
    real::multiple_choice_question_answered(AGENT).await;
}

#[tokio::test]
async fn claude_cancel_stops_a_running_turn() {
    real::cancel_stops_a_running_turn(AGENT).await;
}

#[tokio::test]
async fn claude_conversation_survives_a_killed_agent() {
    real::resume_after_the_agent_is_killed(AGENT, "resumed", || async {}).await;
}

#[tokio::test]
async fn claude_modes_and_model_are_offered_and_switched() {
    real::config_reaches_the_agent(AGENT).await;
}

#[tokio::test]
async fn claude_gets_an_image_and_a_text_file() {
    real::attachments_reach_the_model(AGENT, real::ImagesBesideFiles::Kept).await;
}
