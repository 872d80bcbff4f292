//! The command tree.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Keep AI coding-agent sessions alive on your machine; watch and steer them from any viewport."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server (REST + WebSocket + UI) on 127.0.0.1:7878.
    Serve(ServeArgs),
    /// Run a built-in agent on stdio (spoken to over ACP by the server).
    Agent {
        #[command(subcommand)]
        agent: AgentCommand,
    },
    /// Print the access token (creating it if needed).
    Token(TokenArgs),
    /// List sessions.
    Sessions(ClientArgs),
    /// Create a session; prints its id.
    New(NewArgs),
    /// Start a turn in a session.
    Send(SendArgs),
    /// Answer a pending prompt (permission request or question).
    Answer(AnswerArgs),
    /// Cancel the running turn of a session.
    Cancel(SessionArgs),
    /// Watch a session live in the terminal and answer its prompts; resumes by cursor.
    Attach(AttachArgs),
}

#[derive(Subcommand)]
pub enum AgentCommand {
    /// The deterministic demo agent of PROTOCOL.md (the default agent).
    Demo,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to bind.
    #[arg(long, env = "BERTH_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind; 0 picks a free one (printed at startup).
    #[arg(long, env = "BERTH_PORT", default_value_t = 7878)]
    pub port: u16,
    /// Access token; default: `<data dir>/token`, created (0600) on first start.
    #[arg(long, env = "BERTH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Data directory; default `$XDG_DATA_HOME/berth` (`~/.local/share/berth`).
    #[arg(long, env = "BERTH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Extra host names allowed in `Host`/`Origin` (e.g. a reverse proxy's name).
    #[arg(
        long = "allow-host",
        env = "BERTH_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// SQLite `synchronous`: off, normal, full or extra.
    #[arg(long, env = "BERTH_SYNCHRONOUS", default_value = "full")]
    pub synchronous: String,
    /// Seconds a viewport's socket may accept nothing before it is disconnected.
    #[arg(long, env = "BERTH_WRITE_TIMEOUT", default_value_t = 30)]
    pub write_timeout: u64,
    /// Seconds after `cancel` before a slow agent's process group is killed.
    #[arg(long, env = "BERTH_CANCEL_GRACE", default_value_t = 5)]
    pub cancel_grace: u64,
    /// Opt-in: resolve prompts unanswered for this many seconds as cancelled.
    #[arg(long, env = "BERTH_PROMPT_TIMEOUT")]
    pub prompt_timeout: Option<u64>,
}

#[derive(Args)]
pub struct TokenArgs {
    #[arg(long, env = "BERTH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// How the CLI reaches a server.
#[derive(Args, Clone)]
pub struct ClientArgs {
    /// Server URL.
    #[arg(long, env = "BERTH_URL", default_value = "http://127.0.0.1:7878")]
    pub server: String,
    /// Access token; default: read from the data directory.
    #[arg(long, env = "BERTH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[arg(long, env = "BERTH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct NewArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[arg(long, default_value = "demo")]
    pub agent: String,
    /// Working directory (absolute); default: the session's own `files/` directory.
    #[arg(long)]
    pub cwd: Option<String>,
    #[arg(long)]
    pub title: Option<String>,
}

#[derive(Args)]
pub struct SessionArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Session id, slug, or a unique prefix of either.
    pub session: String,
}

#[derive(Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    pub session: String,
    /// The prompt text.
    pub text: String,
}

#[derive(Args)]
pub struct AnswerArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    pub session: String,
    pub prompt: String,
    /// Choose a permission option by id.
    #[arg(long, conflicts_with_all = ["answers", "cancel"])]
    pub option: Option<String>,
    /// Answer a question: `--answer color=red` (repeatable).
    #[arg(long = "answer", value_name = "ID=VALUE", conflicts_with = "cancel")]
    pub answers: Vec<String>,
    /// Resolve the prompt as cancelled.
    #[arg(long)]
    pub cancel: bool,
}

#[derive(Args)]
pub struct AttachArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    pub session: String,
    /// Resume after this seq (events up to it are not shown again).
    #[arg(long, default_value_t = 0)]
    pub after: u64,
    /// Only watch: do not read answers or prompts from stdin.
    #[arg(long)]
    pub no_input: bool,
    /// Print every frame as JSON (one per line) instead of text.
    #[arg(long)]
    pub raw: bool,
}
