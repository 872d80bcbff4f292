//! The demo agent as a standalone process, for this crate's tests (the `berth` binary
//! offers the same agent as `berth agent demo`).

#[tokio::main]
async fn main() -> std::io::Result<()> {
    berth_agent::demo::run_stdio(Default::default()).await
}
