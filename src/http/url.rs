//! The base URL as far as decisions before any I/O need it (scheme, host, loopback), and
//! query strings.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::Error;

/// The parts of a URL the client needs to decide things before any I/O.
pub(super) struct Url<'a> {
    pub(super) scheme: &'a str,
    pub(super) host: &'a str,
}

impl Url<'_> {
    /// Loopback is decided from the URL alone, never by resolving a name:
    /// `localhost`, 127.0.0.0/8 and `[::1]`.
    pub(super) fn is_loopback(&self) -> bool {
        if self.host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => v4.octets()[0] == 127,
            Ok(IpAddr::V6(v6)) => {
                v6 == Ipv6Addr::LOCALHOST
                    || v6
                        .to_ipv4_mapped()
                        .is_some_and(|v4: Ipv4Addr| v4.octets()[0] == 127)
            }
            Err(_) => false,
        }
    }
}

pub(super) fn parse_url(url: &str) -> Result<Url<'_>, Error> {
    let bad = || {
        Error::config(format!(
            "invalid base URL `{url}`: expected http(s)://host[:port]/path"
        ))
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let scheme_ok = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    if !scheme_ok {
        return Err(bad());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if authority.starts_with('[') {
        authority
            .split_once(']')
            .map(|(h, _)| &authority[..h.len() + 1])
    } else {
        authority.split(':').next()
    }
    .filter(|h| !h.is_empty())
    .ok_or_else(bad)?;
    Ok(Url { scheme, host })
}

/// Appends `text` percent-encoded for a query string: everything but
/// RFC 3986 unreserved characters is escaped.
pub(super) fn percent_encode_into(out: &mut String, text: &str) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_decided_from_the_url() {
        for u in [
            "http://localhost:8080/v1",
            "http://127.0.0.1/v1",
            "http://127.9.9.9:1",
            "http://[::1]:8080/v1",
            "http://user:pw@LOCALHOST/v1",
        ] {
            assert!(parse_url(u).unwrap().is_loopback(), "{u}");
        }
        for u in [
            "http://192.168.1.2:11434/v1",
            "http://localhost.example.com/v1",
            "http://128.0.0.1/",
            "https://api.openai.com/v1",
            "http://[::2]/",
        ] {
            assert!(!parse_url(u).unwrap().is_loopback(), "{u}");
        }
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("http://").is_err());
        assert!(parse_url("no scheme").is_err());
    }
}
