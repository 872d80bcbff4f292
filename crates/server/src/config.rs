//! Gateway settings, filled by the binary.

use std::time::Duration;

use crate::authority;

/// The access token. `Debug` and `Display` never print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into())
    }

    /// The secret itself: only for comparison and for the startup URL.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison, so response timing does not leak the token.
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub token: Token,
    /// Host names (no port) accepted in `Host` and `Origin`.
    pub allowed_hosts: Vec<String>,
    /// Frames queued per connection before its feeders wait (and fall back to the store).
    pub ws_queue: usize,
    /// A connection whose socket accepts nothing for this long is closed.
    pub write_timeout: Duration,
    /// Reported by `/health` and `hello`.
    pub version: String,
    /// Largest upload (`POST …/uploads`), in bytes.
    pub upload_limit: u64,
}

/// The default largest upload, in MiB (`sessions.upload_max_mib`).
pub const UPLOAD_MAX_MIB: u64 = 20;

impl ServerConfig {
    /// Defaults: loopback names allowed, plus the bind host (unless it is every address,
    /// or not a host a `Host` header could name: binding it fails on its own).
    pub fn new(token: Token, bind_host: &str) -> ServerConfig {
        let mut config = ServerConfig {
            token,
            allowed_hosts: Vec::new(),
            ws_queue: 256,
            write_timeout: Duration::from_secs(30),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            upload_limit: UPLOAD_MAX_MIB << 20,
        };
        for host in ["127.0.0.1", "localhost", "::1", bind_host] {
            let _ = config.allow_host(host);
        }
        // Bound to every address: no `Host` names that.
        config
            .allowed_hosts
            .retain(|host| host != "0.0.0.0" && host != "::");
        config
    }

    /// Accepts `entry` (a name or address, a port ignored) in `Host` and `Origin`, in
    /// the normal form the guard compares by. An entry that names no host is an error.
    pub fn allow_host(&mut self, entry: &str) -> Result<(), String> {
        let host = authority::allowed_entry(entry)
            .ok_or_else(|| format!("allowed host {entry:?} is not a host name or address"))?;
        if !self.allowed_hosts.contains(&host) {
            self.allowed_hosts.push(host);
        }
        Ok(())
    }
}
