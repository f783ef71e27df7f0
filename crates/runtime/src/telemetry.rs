//! Tracing for every service: log lines (text or JSON), OpenTelemetry spans (exported over OTLP
//! when an endpoint is configured) and the W3C trace-context propagator used on gRPC metadata and
//! NATS headers; Prometheus metrics on their own endpoint.

use std::net::SocketAddr;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

/// Flushes spans on drop. Drop it off the runtime's workers (`spawn_blocking`): the flush waits
/// for the exporting task, which runs on them.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("telemetry shutdown: {e}");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot set up the OTLP exporter for {endpoint}: {message}")]
    Exporter { endpoint: String, message: String },
    #[error("RENTOPS_TRACE_FILTER {filter:?} is not a filter: {message}")]
    Filter { filter: String, message: String },
    #[error("cannot start the metrics endpoint on {addr}: {message}")]
    Metrics { addr: SocketAddr, message: String },
}

/// How traces are exported over OTLP (`RENTOPS_OTLP_PROTOCOL`, or the standard
/// `OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpProtocol {
    /// OTLP/gRPC (`grpc`), to a collector's port 4317.
    #[default]
    Grpc,
    /// OTLP/HTTP with protobuf bodies (`http/protobuf`), to a collector's port 4318; the
    /// endpoint is the collector's base address (`/v1/traces` is added).
    HttpProtobuf,
}

impl std::str::FromStr for OtlpProtocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "grpc" => Ok(Self::Grpc),
            "http/protobuf" | "http" => Ok(Self::HttpProtobuf),
            other => Err(format!("`grpc` or `http/protobuf`, not {other:?}")),
        }
    }
}

/// Where spans go and which are recorded.
#[derive(Debug, Clone, Default)]
pub struct TraceSettings {
    /// The OTLP collector; none: spans are made (so every event carries `traceparent`) but not
    /// exported.
    pub otlp_endpoint: Option<String>,
    pub otlp_protocol: OtlpProtocol,
    /// Which spans are recorded, as an `EnvFilter` (`RENTOPS_TRACE_FILTER`, default `info`): apart
    /// from `RUST_LOG`, so that quieter logs never cut a trace (a span filtered out writes no
    /// `traceparent`, and the events of its command could not be followed).
    pub filter: String,
}

/// Installs the global subscriber: log lines filtered by `RUST_LOG` (default `info`), spans by
/// `trace.filter`, exported over OTLP when an endpoint is configured.
pub fn init(service: &'static str, format: LogFormat, trace: &TraceSettings) -> Result<TelemetryGuard, TelemetryError> {
    let mut builder = SdkTracerProvider::builder().with_resource(
        opentelemetry_sdk::Resource::builder()
            .with_service_name(service)
            .build(),
    );
    if let Some(endpoint) = &trace.otlp_endpoint {
        use opentelemetry_otlp::WithExportConfig;
        let exporter = match trace.otlp_protocol {
            OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build(),
            OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
                .build(),
        }
        .map_err(|e| TelemetryError::Exporter {
            endpoint: endpoint.clone(),
            message: e.to_string(),
        })?;
        // Batches are exported from a task on the service's runtime: both exporters' clients
        // (tonic, hyper) need one, and the SDK's default batch thread has none.
        let processor = opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
        builder = builder.with_span_processor(processor);
    }
    install(service, format, &trace.filter, builder.build())
}

/// Installs the global subscriber with spans going to `provider` (tests give one with an
/// in-memory exporter); the W3C propagator for gRPC metadata and NATS headers. The guard shuts
/// the provider down, flushing what it holds.
pub fn install(
    service: &'static str,
    format: LogFormat,
    trace_filter: &str,
    provider: SdkTracerProvider,
) -> Result<TelemetryGuard, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer(service));
    let logs = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let spans = EnvFilter::try_new(if trace_filter.is_empty() { "info" } else { trace_filter }).map_err(|e| {
        TelemetryError::Filter {
            filter: trace_filter.to_owned(),
            message: e.to_string(),
        }
    })?;
    let fmt = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_filter(logs())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer().json().with_filter(logs()).boxed(),
    };
    // A second init in one process (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(otel.with_filter(spans))
        .try_init();
    Ok(TelemetryGuard { provider })
}

/// Serves Prometheus metrics on `addr` (`/metrics`).
///
/// Every histogram is exported as a Prometheus histogram (`_bucket`, `_sum`, `_count`), never as
/// a summary: buckets add up across replicas (`histogram_quantile` over `sum by (le)`), a
/// summary's quantiles do not. Each histogram has buckets fitted to what it measures (the
/// dashboards and alerts in `deploy/k8s/base/monitoring/` read them); one not named here gets
/// the latency buckets.
pub fn init_metrics(addr: SocketAddr) -> Result<(), TelemetryError> {
    use metrics_exporter_prometheus::Matcher;
    /// Request, append and apply latencies: 1 ms to 30 s.
    const LATENCY: &[f64] = &[
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ];
    /// How far behind the log a projection applies (alerted from 30 s), and how long a scan
    /// pass or a re-plan runs: 10 ms to 30 min.
    const SLOW: &[f64] = &[
        0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    ];
    /// Events per projector batch (at most `RENTOPS_PROJECTOR_BATCH`, 5000).
    const EVENTS: &[f64] = &[
        1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
    ];
    let error = |e: &dyn std::fmt::Display| TelemetryError::Metrics {
        addr,
        message: e.to_string(),
    };
    let mut builder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets(LATENCY)
        .map_err(|e| error(&e))?;
    for (name, buckets) in [
        ("rentops_projection_lag_seconds", SLOW),
        ("rentops_scan_pass_seconds", SLOW),
        ("rentops_fleet_replan_seconds", SLOW),
        ("rentops_projection_batch_events", EVENTS),
    ] {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
            .map_err(|e| error(&e))?;
    }
    builder.install().map_err(|e| error(&e))
}
