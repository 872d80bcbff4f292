//! The CLI's client for the public API: every command goes through REST like any other
//! viewport would.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use berth_protocol::rest::{
    CreateSession, PatchSession, Resolved, SessionList, StartTurn, TurnAccepted,
};
use berth_protocol::{Answer, AnswerValue, ErrorBody, Session};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cli::{AnswerArgs, ClientArgs, NewArgs, SendArgs, SessionArgs, SessionsArgs};
use crate::paths;

/// An authenticated connection to one server.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(args: &ClientArgs) -> anyhow::Result<Client> {
        let token = match &args.token {
            Some(token) => token.clone(),
            None => {
                let dir = paths::data_dir(args.data_dir.as_deref(), &Default::default())?;
                std::fs::read_to_string(dir.join("token"))
                    .with_context(|| {
                        format!(
                            "no token given and none in {}; pass --token or BERTH_TOKEN",
                            dir.display()
                        )
                    })?
                    .trim()
                    .to_owned()
            }
        };
        Ok(Client {
            http: reqwest::Client::new(),
            base: args
                .server
                .as_deref()
                .context("no server URL")?
                .trim_end_matches('/')
                .to_owned(),
            token,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.call(self.http.get(self.url(path))).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.call(self.http.post(self.url(path)).json(body)).await
    }

    pub async fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.call(self.http.patch(self.url(path)).json(body)).await
    }

    /// Upload `file` to session `id` (`POST …/uploads`), typed by its extension.
    pub async fn upload(
        &self,
        id: &str,
        file: &std::path::Path,
    ) -> anyhow::Result<berth_protocol::Attachment> {
        let bytes = tokio::fs::read(file)
            .await
            .with_context(|| format!("cannot read {}", file.display()))?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "upload".into());
        // The media type alone: what charset a user's file is in is not known.
        let mime = berth_server::ui::content_type(&name)
            .split(';')
            .next()
            .unwrap_or("application/octet-stream");
        let url = reqwest::Url::parse_with_params(
            &self.url(&format!("/sessions/{id}/uploads")),
            &[("name", name.as_str())],
        )?;
        let request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, mime)
            .body(bytes);
        self.call(request).await
    }

    /// POST with no body, answered with a JSON body (e.g. `stop`).
    pub async fn post_bare<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.call(self.http.post(self.url(path))).await
    }

    /// POST with no body and no answer body (e.g. `cancel`, answered `202`).
    pub async fn post_empty(&self, path: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await?;
        check(response).await.map(|_| ())
    }

    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<T> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| {
                format!(
                    "cannot reach berth at {}; is `berth serve` running?",
                    self.base
                )
            })?;
        let response = check(response).await?;
        Ok(response.json().await?)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// Every session, archived ones included.
    pub async fn all_sessions(&self) -> anyhow::Result<Vec<Session>> {
        let listed: SessionList = self.get("/sessions").await?;
        let archived: SessionList = self.get("/sessions?archived=true").await?;
        Ok(listed
            .sessions
            .into_iter()
            .chain(archived.sessions)
            .collect())
    }

    /// Accept a session's id, slug, or a unique prefix of either. Archived sessions can
    /// be named too (to unarchive them, or to prompt them anyway).
    pub async fn resolve(&self, reference: &str) -> anyhow::Result<Session> {
        let sessions = self.all_sessions().await?;
        if let Some(exact) = sessions
            .iter()
            .find(|s| s.id == reference || s.slug == reference)
        {
            return Ok(exact.clone());
        }
        let matches: Vec<_> = sessions
            .into_iter()
            .filter(|s| s.id.starts_with(reference) || s.slug.starts_with(reference))
            .collect();
        match matches.len() {
            1 => Ok(matches.into_iter().next().expect("one match")),
            0 => bail!("no session matches `{reference}`"),
            n => bail!("`{reference}` matches {n} sessions; give more of the id"),
        }
    }
}

/// Turn a non-2xx answer into its documented error message.
async fn check(response: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => {
            let code = serde_json::to_value(body.error.code).unwrap_or_default();
            let code = code.as_str().unwrap_or("error");
            match body.error.resolution {
                Some(winner) => bail!(
                    "{code}: {} (winning answer: {})",
                    body.error.message,
                    serde_json::to_string(&winner.outcome).unwrap_or_default()
                ),
                None => bail!("{code}: {}", body.error.message),
            }
        }
        Err(_) => bail!("{status}: {text}"),
    }
}

pub async fn sessions(args: SessionsArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let path = if args.archived {
        "/sessions?archived=true"
    } else {
        "/sessions"
    };
    let list: SessionList = client.get(path).await?;
    if args.client.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if list.sessions.is_empty() {
        if args.archived {
            println!("no archived sessions");
        } else {
            println!("no sessions yet; create one with `berth new`");
        }
    }
    for s in &list.sessions {
        let prompts = if s.pending_prompts > 0 {
            format!("  {} waiting", s.pending_prompts)
        } else {
            String::new()
        };
        let archived = if s.archived { "  (archived)" } else { "" };
        println!(
            "{}  {:<14} {:>4} unread{}  {} [{}]{archived}",
            s.id,
            crate::status_name(s.status),
            s.unread,
            prompts,
            s.title,
            s.agent
        );
    }
    if !args.archived {
        // Say that some are hidden, and how to see them.
        let archived: SessionList = client.get("/sessions?archived=true").await?;
        match archived.sessions.len() {
            0 => {}
            1 => println!("(1 archived session not shown: `berth sessions --archived`)"),
            n => println!("({n} archived sessions not shown: `berth sessions --archived`)"),
        }
    }
    Ok(())
}

pub async fn new_session(args: NewArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let body = CreateSession {
        agent: args.agent,
        cwd: args.cwd,
        title: args.title,
    };
    let session: Session = client.post("/sessions", &body).await?;
    if args.client.json {
        println!("{}", serde_json::to_string_pretty(&session)?);
    } else {
        println!("{}", session.id);
    }
    Ok(())
}

pub async fn send(args: SendArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let session = client.resolve(&args.session).await?;
    let mut attachments = Vec::with_capacity(args.attach.len());
    for file in &args.attach {
        attachments.push(client.upload(&session.id, file).await?.id);
    }
    let accepted: TurnAccepted = client
        .post(
            &format!("/sessions/{}/turns", session.id),
            &StartTurn {
                text: args.text,
                queue: args.queue,
                attachments,
            },
        )
        .await?;
    if accepted.queued {
        eprintln!("queued behind the running turn");
    }
    println!("{}", accepted.turn_id);
    Ok(())
}

pub async fn cancel(args: SessionArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let session = client.resolve(&args.session).await?;
    client
        .post_empty(&format!("/sessions/{}/cancel", session.id))
        .await
}

/// `berth archive` / `berth unarchive`.
pub async fn set_archived(args: SessionArgs, archived: bool) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let session = client.resolve(&args.session).await?;
    let body = PatchSession {
        title: None,
        archived: Some(archived),
    };
    let changed: Session = client
        .patch(&format!("/sessions/{}", session.id), &body)
        .await?;
    if args.client.json {
        println!("{}", serde_json::to_string_pretty(&changed)?);
    } else {
        let what = if changed.archived {
            "archived"
        } else {
            "unarchived"
        };
        println!("{what} {} ({})", changed.id, changed.title);
    }
    Ok(())
}

pub async fn answer(args: AnswerArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let session = client.resolve(&args.session).await?;
    let answer = if args.cancel {
        Answer::Cancel { cancel: true }
    } else if let Some(option_id) = args.option {
        Answer::Select { option_id }
    } else if !args.answers.is_empty() {
        // An id given more than once answers a multiple-choice question with a list.
        let mut given: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for pair in &args.answers {
            let (k, v) = pair
                .split_once('=')
                .with_context(|| format!("`--answer {pair}`: expected ID=VALUE"))?;
            given.entry(k.to_owned()).or_default().push(v.to_owned());
        }
        let answers = given
            .into_iter()
            .map(|(id, mut values)| {
                let value = if values.len() == 1 {
                    AnswerValue::One(values.remove(0))
                } else {
                    AnswerValue::Many(values)
                };
                (id, value)
            })
            .collect();
        Answer::Answers { answers }
    } else {
        bail!("say how to answer: --option ID, --answer ID=VALUE or --cancel");
    };
    let resolved: Resolved = client
        .post(
            &format!("/sessions/{}/prompts/{}", session.id, args.prompt),
            &answer,
        )
        .await?;
    println!("{}", serde_json::to_string(&resolved.resolved.outcome)?);
    Ok(())
}
