//! Sending one `ExportTraceServiceRequest`: OTLP/HTTP (protobuf body, blocking client on the
//! worker thread) or OTLP/gRPC (tonic on a private current-thread runtime).

use std::collections::BTreeMap;
use std::time::Duration;

/// Why a request failed.
#[derive(Debug)]
pub enum SendError {
    /// Worth retrying (429, 502, 503, 504, connection trouble), after the hinted delay.
    Retryable(String, Option<Duration>),
    /// Not worth retrying (400, 413, …).
    Permanent(String),
}

/// A way to deliver span batches.
pub trait SpanTransport: Send {
    /// Sends one encoded `ExportTraceServiceRequest`, giving up after `timeout`.
    fn send(&mut self, body: &[u8], timeout: Duration) -> Result<(), SendError>;
}

/// OTLP/HTTP with a protobuf body.
pub struct HttpTransport {
    agent: ureq::Agent,
    url: String,
    headers: BTreeMap<String, String>,
}

impl HttpTransport {
    /// A transport posting to `url`.
    pub fn new(url: String, headers: BTreeMap<String, String>) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .new_agent();
        Self {
            agent,
            url,
            headers,
        }
    }
}

fn retry_after(v: Option<&str>) -> Option<Duration> {
    v.and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

impl SpanTransport for HttpTransport {
    fn send(&mut self, body: &[u8], timeout: Duration) -> Result<(), SendError> {
        let mut req = self
            .agent
            .post(&self.url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("Content-Type", "application/x-protobuf");
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.send(body) {
            Ok(resp) => {
                let code = resp.status().as_u16();
                if (200..300).contains(&code) {
                    return Ok(());
                }
                let hint = retry_after(
                    resp.headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()),
                );
                let msg = format!("OTLP/HTTP export to {} failed: HTTP {code}", self.url);
                if matches!(code, 429 | 502 | 503 | 504) {
                    Err(SendError::Retryable(msg, hint))
                } else {
                    Err(SendError::Permanent(msg))
                }
            }
            Err(e) => Err(SendError::Retryable(
                format!("OTLP/HTTP export to {} failed: {e}", self.url),
                None,
            )),
        }
    }
}

/// OTLP/gRPC over tonic.
#[cfg(feature = "grpc")]
pub struct GrpcTransport {
    runtime: Option<tokio::runtime::Runtime>,
    channel: Option<tonic::transport::Channel>,
    url: String,
    headers: BTreeMap<String, String>,
}

#[cfg(feature = "grpc")]
impl GrpcTransport {
    /// A transport to `url` (`http://host:port`). The runtime is created on first use, on the
    /// worker thread.
    pub fn new(url: String, headers: BTreeMap<String, String>) -> Self {
        Self {
            runtime: None,
            channel: None,
            url,
            headers,
        }
    }

    fn channel(&mut self, timeout: Duration) -> Result<tonic::transport::Channel, SendError> {
        if let Some(c) = &self.channel {
            return Ok(c.clone());
        }
        let endpoint = tonic::transport::Endpoint::from_shared(self.url.clone())
            .map_err(|e| SendError::Permanent(format!("OTLP/gRPC endpoint {}: {e}", self.url)))?
            .connect_timeout(timeout);
        let c = endpoint.connect_lazy();
        self.channel = Some(c.clone());
        Ok(c)
    }
}

#[cfg(feature = "grpc")]
impl SpanTransport for GrpcTransport {
    fn send(&mut self, body: &[u8], timeout: Duration) -> Result<(), SendError> {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
        use prost::Message;
        // tonic wants the message; only this transport pays for decoding the batch again.
        let request = ExportTraceServiceRequest::decode(body)
            .map_err(|e| SendError::Permanent(format!("OTLP/gRPC: undecodable batch: {e}")))?;
        use tonic::metadata::{MetadataKey, MetadataValue};
        if self.runtime.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| SendError::Permanent(format!("OTLP/gRPC runtime: {e}")))?;
            self.runtime = Some(rt);
        }
        let channel = {
            let _guard = self.runtime.as_ref().map(|r| r.enter());
            self.channel(timeout)?
        };
        let mut req = tonic::Request::new(request);
        req.set_timeout(timeout);
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (
                MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes()),
                MetadataValue::try_from(v.as_str()),
            ) {
                req.metadata_mut().insert(k, v);
            }
        }
        let url = self.url.clone();
        let rt = self.runtime.as_ref().expect("runtime was just created");
        let result = rt.block_on(async move {
            let mut client = TraceServiceClient::new(channel);
            tokio::time::timeout(timeout, client.export(req)).await
        });
        match result {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(status)) => {
                use tonic::Code;
                let msg = format!("OTLP/gRPC export to {url} failed: {status}");
                match status.code() {
                    Code::Unavailable
                    | Code::ResourceExhausted
                    | Code::Aborted
                    | Code::DeadlineExceeded => Err(SendError::Retryable(msg, None)),
                    _ => Err(SendError::Permanent(msg)),
                }
            }
            Err(_) => Err(SendError::Retryable(
                format!("OTLP/gRPC export to {url} timed out after {timeout:?}"),
                None,
            )),
        }
    }
}
