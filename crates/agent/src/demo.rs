//! The built-in demo agent: a real ACP agent on stdio, implementing PROTOCOL.md's script.

/// Run the demo agent on this process's stdin/stdout until stdin closes.
pub async fn run_stdio() -> std::io::Result<()> {
    unimplemented!()
}
