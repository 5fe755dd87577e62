//! Who may call the admin endpoints (`POST /admit`, `POST /leave`): checked before anything is
//! parsed or queued.
//!
//! In order: the caller's address (loopback unless `[status] allow_remote_admin`), the `Host`
//! header (loopback name or an IP literal: a DNS-rebinding page reaches us under its own domain
//! name), the `Origin` header if any (a browser names the page that sent the request; only our
//! own origin may), then `Authorization: Bearer <token>` against the token file's secret.

use super::token::AdminToken;
use axum::http::{header, HeaderMap, StatusCode};
use std::net::{IpAddr, SocketAddr};

/// Admin settings of a listener.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// The token requests must present.
    pub token: AdminToken,
    /// Accept admin calls from non-loopback addresses (`[status] allow_remote_admin`).
    pub allow_remote: bool,
}

/// Why a request was refused: the status code and a short reason (also the response body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 401 or 403.
    pub status: StatusCode,
    /// For the caller and the log.
    pub reason: &'static str,
}

fn refuse(status: StatusCode, reason: &'static str) -> Result<(), Refusal> {
    Err(Refusal { status, reason })
}

/// Check an admin request from `peer` to the listener bound at `local`.
pub fn check(
    settings: &AdminSettings,
    local: SocketAddr,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    let remote_ok = settings.allow_remote;
    match peer {
        Some(p) if p.ip().to_canonical().is_loopback() || remote_ok => {}
        _ => {
            return refuse(
                StatusCode::FORBIDDEN,
                "admin calls are accepted from loopback only ([status] allow_remote_admin)",
            )
        }
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if !host.is_some_and(host_is_literal_or_loopback) {
        return refuse(
            StatusCode::FORBIDDEN,
            "the Host header must be an IP address or localhost",
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own = origin.to_str().is_ok_and(|o| is_own_origin(o, local));
        if !own {
            return refuse(
                StatusCode::FORBIDDEN,
                "cross-origin admin requests are refused",
            );
        }
    }
    let Some(auth) = headers.get(header::AUTHORIZATION) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "missing Authorization: Bearer <admin token>",
        );
    };
    let presented = auth.to_str().ok().and_then(|a| {
        let (scheme, rest) = a.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    });
    let Some(presented) = presented else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "the Authorization header must be `Bearer <admin token>`",
        );
    };
    if !settings.token.matches(presented) {
        return refuse(StatusCode::FORBIDDEN, "wrong admin token");
    }
    Ok(())
}

/// `host[:port]` with host an IP literal (`[v6]` bracketed) or `localhost`.
fn host_is_literal_or_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6] or [v6]:port
        match rest.split_once(']') {
            Some((v6, tail)) if tail.is_empty() || tail.starts_with(':') => {
                return v6.parse::<std::net::Ipv6Addr>().is_ok()
            }
            _ => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

/// Whether `origin` is the listener's own: `http://` plus a loopback name or the bound IP, and
/// the bound port.
fn is_own_origin(origin: &str, local: SocketAddr) -> bool {
    let port = local.port();
    let mut own = vec![
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://[::1]:{port}"),
    ];
    if !local.ip().is_unspecified() {
        own.push(format!("http://{local}"));
    }
    own.iter().any(|o| o.eq_ignore_ascii_case(origin))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn settings(allow_remote: bool) -> AdminSettings {
        AdminSettings {
            token: AdminToken::from_secret(SECRET),
            allow_remote,
        }
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn every_check_in_turn() {
        let local: SocketAddr = "127.0.0.1:7180".parse().unwrap();
        let lo = Some("127.0.0.1:50000".parse().unwrap());
        let far = Some("192.0.2.7:50000".parse().unwrap());
        let bearer = format!("Bearer {SECRET}");
        let good = headers(&[
            (header::HOST, "127.0.0.1:7180"),
            (header::AUTHORIZATION, &bearer),
        ]);
        assert_eq!(check(&settings(false), local, lo, &good), Ok(()));
        let code = |s: &AdminSettings, peer, h: &HeaderMap| {
            check(s, local, peer, h).map_err(|r| r.status.as_u16())
        };
        assert_eq!(code(&settings(false), far, &good), Err(403));
        assert_eq!(code(&settings(true), far, &good), Ok(()));
        assert_eq!(code(&settings(false), None, &good), Err(403));
        let mut h = good.clone();
        h.insert(header::HOST, HeaderValue::from_static("evil.example:7180"));
        assert_eq!(code(&settings(false), lo, &h), Err(403));
        h.remove(header::HOST);
        assert_eq!(code(&settings(false), lo, &h), Err(403));
        for ok_host in [
            "localhost:7180",
            "[::1]:7180",
            "[::1]",
            "10.1.2.3",
            "LOCALHOST",
        ] {
            h.insert(header::HOST, HeaderValue::from_str(ok_host).unwrap());
            assert_eq!(code(&settings(false), lo, &h), Ok(()), "{ok_host}");
        }
        for bad_origin in [
            "http://evil.example",
            "null",
            "http://127.0.0.1:7181",
            "https://127.0.0.1:7180",
        ] {
            let mut h = good.clone();
            h.insert(header::ORIGIN, HeaderValue::from_str(bad_origin).unwrap());
            assert_eq!(code(&settings(false), lo, &h), Err(403), "{bad_origin}");
        }
        let mut h = good.clone();
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://localhost:7180"),
        );
        assert_eq!(code(&settings(false), lo, &h), Ok(()));
        let mut h = good.clone();
        h.remove(header::AUTHORIZATION);
        assert_eq!(code(&settings(false), lo, &h), Err(401));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic Zm9vOmJhcg=="),
        );
        assert_eq!(code(&settings(false), lo, &h), Err(401));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer nope"),
        );
        assert_eq!(code(&settings(false), lo, &h), Err(403));
        // An IPv4-mapped loopback peer (dual-stack listener) is loopback.
        let mapped = Some("[::ffff:127.0.0.1]:5".parse().unwrap());
        assert_eq!(code(&settings(false), mapped, &good), Ok(()));
    }
}
