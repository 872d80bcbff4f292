//! Host names out of `Host` and `Origin`, parsed strictly (RFC 3986 §3.2, RFC 6454 §6).
//!
//! A lenient parse is a bypass: splitting on `]` once read `[::1]evil.example` as `::1`,
//! and `http://[::1]@evil.example` (userinfo, then the real host) passed as loopback. So
//! anything that is not exactly `host[:port]` — userinfo, a path, bytes after `]`, a
//! bracketed address that is not IPv6, an empty or out-of-range port — has no host at
//! all, and the guard refuses it. Names are compared in one normal form: reg-names and
//! IPv4 lower-cased, IPv6 in its canonical text without brackets (`[0:0::1]` is `::1`).

use std::net::Ipv6Addr;

/// The normalised host of an authority `host[:port]`, or `None` if it is not one.
pub fn host_of(authority: &str) -> Option<String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        port(after)?;
        // std's parser refuses zone ids and IPv4 in brackets, as RFC 3986 does for Host.
        let ip: Ipv6Addr = inside.parse().ok()?;
        return Some(ip.to_string());
    }
    let (name, after) = match authority.find(':') {
        Some(colon) => authority.split_at(colon),
        None => (authority, ""),
    };
    port(after)?;
    let reg_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    if name.is_empty() || !name.chars().all(reg_name) {
        return None;
    }
    Some(name.to_ascii_lowercase())
}

/// The normalised host of a serialised origin `scheme://host[:port]` (http or https), or
/// `None` for `null`, other schemes, or anything after the authority.
pub fn origin_host(origin: &str) -> Option<String> {
    let (scheme, authority) = origin.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    host_of(authority)
}

/// An entry of the allowed-hosts list in the same normal form: a name, an IPv4 or IPv6
/// address (bracketed or not), a port ignored. `None` if it names no host.
pub fn allowed_entry(entry: &str) -> Option<String> {
    let entry = entry.trim();
    match entry.parse::<Ipv6Addr>() {
        Ok(ip) => Some(ip.to_string()),
        Err(_) => host_of(entry),
    }
}

/// `Some` if `after` (what follows the host) is empty or `:` and a port number.
fn port(after: &str) -> Option<()> {
    if after.is_empty() {
        return Some(());
    }
    let digits = after.strip_prefix(':')?;
    let valid =
        !digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit());
    (valid && digits.parse::<u16>().is_ok()).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_their_port_and_brackets_and_are_normalised() {
        assert_eq!(host_of("127.0.0.1:7878").as_deref(), Some("127.0.0.1"));
        assert_eq!(host_of("LocalHost").as_deref(), Some("localhost"));
        assert_eq!(host_of("[::1]:80").as_deref(), Some("::1"));
        assert_eq!(host_of("[0:0:0:0:0:0:0:1]").as_deref(), Some("::1"));
        assert_eq!(
            host_of("evil.example:7878").as_deref(),
            Some("evil.example")
        );
    }

    #[test]
    fn anything_but_host_and_port_is_no_host() {
        for bad in [
            "",
            "[::1]evil.example",
            "[::1]:80evil",
            "[127.0.0.1]",
            "[::1",
            "[fe80::1%25eth0]",
            "::1",
            "127.0.0.1:",
            "127.0.0.1:99999",
            "127.0.0.1:80:80",
            "user@127.0.0.1",
            "127.0.0.1/path",
            "127.0.0.1 evil",
            "127.0.0.1%2f",
        ] {
            assert_eq!(host_of(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn origins_are_a_scheme_and_an_authority_only() {
        assert_eq!(
            origin_host("http://127.0.0.1:7878").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(origin_host("HTTPS://[::1]:5173").as_deref(), Some("::1"));
        for bad in [
            "null",
            "file://",
            "ws://127.0.0.1",
            "http://[::1]@evil.example",
            "http://127.0.0.1@evil.example",
            "http://127.0.0.1/",
            "http://127.0.0.1.evil.example:80/x",
            "127.0.0.1",
        ] {
            assert_ne!(origin_host(bad).as_deref(), Some("127.0.0.1"), "{bad:?}");
            assert_ne!(origin_host(bad).as_deref(), Some("::1"), "{bad:?}");
        }
        assert_eq!(origin_host("http://[::1]@evil.example"), None);
    }

    #[test]
    fn allowed_entries_take_the_same_normal_form() {
        assert_eq!(allowed_entry(" ::1 ").as_deref(), Some("::1"));
        assert_eq!(allowed_entry("[::1]").as_deref(), Some("::1"));
        assert_eq!(
            allowed_entry("Box.Local:8080").as_deref(),
            Some("box.local")
        );
        assert_eq!(allowed_entry("http://box"), None);
    }
}
