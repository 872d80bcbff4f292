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
    /// Config file; default `$XDG_CONFIG_HOME/berth/config.toml` (used if it exists).
    #[arg(long, global = true, env = "BERTH_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server (REST + WebSocket + UI) on 127.0.0.1:7878.
    #[command(after_help = crate::agents::install_help())]
    Serve(ServeArgs),
    /// List the agents this server offers and whether each can be started.
    Agents(AgentsArgs),
    /// Print the effective configuration as TOML: defaults, then the config file, then
    /// `BERTH_*` variables and flags (the same ones `berth serve` takes), as a `berth
    /// serve` here would run. The token is never printed (`berth token` does that).
    Config(ServeArgs),
    /// Run a built-in agent on stdio (spoken to over ACP by the server).
    Agent {
        #[command(subcommand)]
        agent: AgentCommand,
    },
    /// Print the access token (creating it if needed).
    Token(TokenArgs),
    /// List sessions (archived ones with `--archived`).
    Sessions(SessionsArgs),
    /// Create a session; prints its id.
    New(NewArgs),
    /// Start a turn in a session.
    Send(SendArgs),
    /// Answer a pending prompt (permission request or question).
    Answer(AnswerArgs),
    /// Cancel the running turn of a session.
    Cancel(SessionArgs),
    /// Stop a session's agent process; its running turn ends cancelled.
    ///
    /// The next prompt starts the agent again, continuing its conversation if it can.
    /// `--all` stops every session's agent; with the server down it stops the session
    /// hosts directly (their turns end cancelled, in the log) and they exit.
    Stop(StopArgs),
    /// Archive a session: hide it from `berth sessions` (its log is kept).
    Archive(SessionArgs),
    /// Bring an archived session back into `berth sessions`.
    Unarchive(SessionArgs),
    /// Watch a session live in the terminal and answer its prompts; resumes by cursor.
    Attach(AttachArgs),
    /// Run one session's host (started by `berth serve`, which sends its spec on stdin).
    #[command(hide = true)]
    Host(HostArgs),
}

#[derive(Args)]
pub struct HostArgs {
    /// The session's id.
    pub session: String,
}

impl Command {
    /// The server-reaching arguments of a client command.
    pub fn client_args(&mut self) -> Option<&mut ClientArgs> {
        match self {
            Command::Sessions(args) => Some(&mut args.client),
            Command::New(args) => Some(&mut args.client),
            Command::Send(args) => Some(&mut args.client),
            Command::Answer(args) => Some(&mut args.client),
            Command::Stop(args) => Some(&mut args.client),
            Command::Cancel(args) | Command::Archive(args) | Command::Unarchive(args) => {
                Some(&mut args.client)
            }
            Command::Attach(args) => Some(&mut args.client),
            Command::Serve(_)
            | Command::Host(_)
            | Command::Agent { .. }
            | Command::Agents(_)
            | Command::Config(_)
            | Command::Token(_) => None,
        }
    }
}

#[derive(Subcommand)]
pub enum AgentCommand {
    /// The deterministic demo agent of PROTOCOL.md (the default agent).
    Demo(DemoArgs),
}

/// Flags and `BERTH_*` variables override the config file; unset ones keep its values
/// (whose defaults are in `config.rs`).
#[derive(Args)]
pub struct ServeArgs {
    /// Address to bind [config: server.host, default 127.0.0.1].
    #[arg(long, env = "BERTH_HOST")]
    pub host: Option<String>,
    /// Port to bind; 0 picks a free one, printed at startup [server.port, 7878].
    #[arg(long, env = "BERTH_PORT")]
    pub port: Option<u16>,
    /// Access token; default: `<data dir>/token`, created (0600) on first start.
    #[arg(long, env = "BERTH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Data directory [storage.data_dir, `$XDG_DATA_HOME/berth`].
    #[arg(long, env = "BERTH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Extra host names allowed in `Host`/`Origin`, e.g. a reverse proxy's name
    /// [server.allowed_hosts; the flag adds to it].
    #[arg(
        long = "allow-host",
        env = "BERTH_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// SQLite `synchronous`: off, normal, full or extra [storage.synchronous, full].
    #[arg(long, env = "BERTH_SYNCHRONOUS")]
    pub synchronous: Option<String>,
    /// Seconds a viewport's socket may accept nothing before it is disconnected
    /// [server.write_timeout_secs, 30].
    #[arg(long, env = "BERTH_WRITE_TIMEOUT")]
    pub write_timeout: Option<u64>,
    /// Seconds after `cancel` before a slow agent's process group is killed
    /// [sessions.cancel_grace_secs, 5].
    #[arg(long, env = "BERTH_CANCEL_GRACE")]
    pub cancel_grace: Option<u64>,
    /// Resolve prompts unanswered for this many seconds as cancelled
    /// [sessions.prompt_timeout_secs, never].
    #[arg(long, env = "BERTH_PROMPT_TIMEOUT")]
    pub prompt_timeout: Option<u64>,
    /// Most agent processes running at once; one more stops the least recently used
    /// idle agent. 0: no limit [sessions.max_live_agents, 8].
    #[arg(long, env = "BERTH_MAX_LIVE_AGENTS")]
    pub max_live_agents: Option<usize>,
    /// Seconds an agent may sit with no turn before it is stopped (the next prompt
    /// starts it again and continues the conversation). 0: never
    /// [sessions.agent_idle_secs, 900].
    #[arg(long, env = "BERTH_AGENT_IDLE_SECS")]
    pub agent_idle: Option<u64>,
    /// Run each live session in a session host of its own, so its turn, prompts and
    /// agent survive a restart of the server [sessions.hosts, true].
    #[arg(long, env = "BERTH_HOSTS")]
    pub hosts: Option<bool>,
}

#[derive(Args)]
pub struct DemoArgs {
    /// How it offers to continue earlier sessions: `resume` (the default:
    /// `session/resume` answers at once), `load` (replays one exchange, then answers),
    /// `load-late` (answers, then replays), or `none` (every start is a new conversation).
    #[arg(long, value_parser = ["resume", "load", "load-late", "none"], default_value = "resume")]
    pub continues: String,
    /// Advertise a sign-in method and refuse new sessions until "signed in" (never).
    #[arg(long)]
    pub require_auth: bool,
}

#[derive(Args)]
pub struct AgentsArgs {
    /// Print JSON (`GET /agents`'s body) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct TokenArgs {
    #[arg(long, env = "BERTH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// How the CLI reaches a server.
#[derive(Args, Clone)]
pub struct ClientArgs {
    /// Server URL; default: the config file's `server.host` and `server.port`.
    #[arg(long, env = "BERTH_URL")]
    pub server: Option<String>,
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
pub struct SessionsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// List the archived sessions instead of the others.
    #[arg(long)]
    pub archived: bool,
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
pub struct StopArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Session id, slug, or a unique prefix of either.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub session: Option<String>,
    /// Every session with an agent or a turn; works with the server down too.
    #[arg(long)]
    pub all: bool,
}

#[derive(Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    pub session: String,
    /// The prompt text.
    pub text: String,
    /// If a turn runs, queue this prompt to start when it ends (instead of failing).
    #[arg(long)]
    pub queue: bool,
    /// Send a file with the prompt (repeatable): uploaded to the session first.
    #[arg(long = "attach", value_name = "FILE")]
    pub attach: Vec<std::path::PathBuf>,
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
    /// Answer a question: `--answer color=red` (repeatable; repeat an ID to give a
    /// multiple-choice question several choices).
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
    /// Leave the session's unread count alone (by default what is printed counts as
    /// read, as in the web UI).
    #[arg(long)]
    pub keep_unread: bool,
}
