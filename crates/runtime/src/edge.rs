//! The one tower layer every RPC passes through, before any handler runs:
//!
//! - opens the server span (`grpc` with `rpc.service`, `rpc.method`, the status code and the
//!   caller's id), continuing the caller's trace when its metadata carries `traceparent`;
//! - checks who calls ([`Access`]): a missing or bad token is answered `UNAUTHENTICATED`, a
//!   missing role `PERMISSION_DENIED`, both before the request reaches the service, so nothing
//!   can be appended; an authenticated [`Caller`](crate::auth::Caller) is put into the request's
//!   extensions for the handler;
//! - records the call's metrics: `rentops_grpc_requests_total{service, method, code}` and
//!   `rentops_grpc_request_duration_seconds{service, method}`.
//!
//! Metric labels come from the policy's declared methods (and health and reflection): a path
//! that no service declares is labelled `unknown`, so a caller cannot grow the label set.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tonic::body::Body;
use tracing::Instrument;

use crate::auth::{self, Access};

type Request = http::Request<Body>;
type Response = http::Response<Body>;

/// Wraps every service of a server in [`Edge`].
#[derive(Debug, Clone)]
pub struct EdgeLayer {
    access: Access,
}

impl EdgeLayer {
    pub fn new(access: Access) -> Self {
        Self { access }
    }
}

impl<S> tower::Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            access: self.access.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Edge<S> {
    inner: S,
    access: Access,
}

/// The `(service, method)` labels of a request path, bounded to what the server knows.
fn labels(access: &Access, path: &str) -> (String, String) {
    let known = access.policy.roles(path).is_some() || auth::is_open(path) || auth::is_for_everyone(path);
    match path.trim_start_matches('/').split_once('/') {
        Some((service, method)) if known => (service.to_owned(), method.to_owned()),
        _ => ("unknown".to_owned(), "unknown".to_owned()),
    }
}

/// The gRPC status of a unary response: tonic answers an error "trailers-only", with
/// `grpc-status` among the headers; a success carries it in the trailers, after the body.
fn status_code(response: &Response) -> tonic::Code {
    response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(tonic::Code::from)
        .unwrap_or(tonic::Code::Ok)
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

fn record(service: String, method: String, code: tonic::Code, started: Instant) {
    let code = format!("{code:?}");
    metrics::histogram!(
        "rentops_grpc_request_duration_seconds",
        "service" => service.clone(),
        "method" => method.clone()
    )
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        "rentops_grpc_requests_total",
        "service" => service,
        "method" => method,
        "code" => code
    )
    .increment(1);
}

impl<S> tower::Service<Request> for Edge<S>
where
    S: tower::Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        // The service that was polled ready is the one to call; the clone waits for next time.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let started = Instant::now();
        let path = request.uri().path().to_owned();
        let (service, method) = labels(&self.access, &path);
        let span = tracing::info_span!(
            "grpc",
            otel.name = %path.trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
            enduser.id = tracing::field::Empty,
        );
        let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(request.headers())));
        let _ = span.set_parent(parent);
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match self.access.check(&path, authorization) {
            Err(refused) => {
                let status = refused.into_status();
                span.record("rpc.grpc.status_code", status.code() as i32);
                span.in_scope(|| tracing::info!(code = ?status.code(), message = status.message(), "call refused"));
                record(service, method, status.code(), started);
                return Box::pin(std::future::ready(Ok(status.into_http())));
            }
            Ok(Some(caller)) => {
                span.record("enduser.id", caller.subject.as_str());
                request.extensions_mut().insert(caller);
            }
            Ok(None) => {}
        }
        Box::pin(
            async move {
                let result = inner.call(request).await;
                let code = match &result {
                    Ok(response) => status_code(response),
                    Err(_) => tonic::Code::Unavailable,
                };
                tracing::Span::current().record("rpc.grpc.status_code", code as i32);
                record(service, method, code, started);
                result
            }
            .instrument(span),
        )
    }
}
