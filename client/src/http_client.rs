//! A small HTTP/1.1 client (hyper) for talking to nodes' and monitors' listeners: every answer
//! is bounded in size and time, since the other side may be hostile.

use anyhow::Context;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// A client with a per-request timeout.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Empty<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    /// A client whose requests (connect, headers and body) each take at most `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        HttpClient {
            inner: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        }
    }

    /// `GET http://{addr}{path}`: the status code and at most `limit` bytes of body (a longer
    /// body is an error).
    pub async fn get(&self, addr: &str, path: &str, limit: usize) -> anyhow::Result<(u16, Bytes)> {
        let uri: hyper::Uri = format!("http://{addr}{path}")
            .parse()
            .with_context(|| format!("{addr}{path} is not a URL"))?;
        let fetch = async {
            let resp = self.inner.get(uri).await?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), limit)
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .to_bytes();
            anyhow::Ok((status, body))
        };
        tokio::time::timeout(self.timeout, fetch)
            .await
            .with_context(|| format!("{addr}{path}: no answer within {:?}", self.timeout))?
            .with_context(|| format!("GET {addr}{path}"))
    }
}
