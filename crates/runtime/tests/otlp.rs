#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Spans go out over OTLP/HTTP when `RENTOPS_OTLP_PROTOCOL=http/protobuf`, and those still held
//! when the service stops are flushed: a collector's HTTP endpoint (hyper, on a free port)
//! receives the span of a unit of work that ended a moment before shutdown, long before the
//! batch exporter's own 5 s schedule would have sent it.

use std::sync::{Arc, Mutex};

use http_body_util::BodyExt as _;
use hyper::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use rentops_runtime::config::LogFormat;
use rentops_runtime::telemetry::{self, OtlpProtocol, TraceSettings};
use rentops_runtime::{CommonConfig, ConfigReader, MapEnv};

/// What the collector was sent: (path, content type, body).
type Received = Arc<Mutex<Vec<(String, String, Bytes)>>>;

async fn collector() -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let sink = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let sink = sink.clone();
                    async move {
                        let path = request.uri().path().to_owned();
                        let content_type = request
                            .headers()
                            .get(hyper::header::CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let body = request.into_body().collect().await?.to_bytes();
                        sink.lock().unwrap().push((path, content_type, body));
                        Ok::<_, hyper::Error>(hyper::Response::new(http_body_util::Empty::<Bytes>::new()))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, received)
}

#[test]
fn the_protocol_is_read_from_either_variable_and_a_wrong_one_names_its_key() {
    fn read<const N: usize>(pairs: [(&str, &str); N]) -> Result<CommonConfig, rentops_runtime::ConfigError> {
        let env = MapEnv::from_pairs(pairs);
        CommonConfig::read(&ConfigReader::new(&env), "order", "127.0.0.1:50051", "127.0.0.1:9464")
    }
    assert_eq!(read([]).unwrap().trace.otlp_protocol, OtlpProtocol::Grpc);
    let http = read([("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]).unwrap();
    assert_eq!(http.trace.otlp_protocol, OtlpProtocol::HttpProtobuf);
    let ours_first = read([
        ("RENTOPS_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ]);
    assert_eq!(ours_first.unwrap().trace.otlp_protocol, OtlpProtocol::Grpc);
    let wrong = read([("RENTOPS_OTLP_PROTOCOL", "http/json")]).unwrap_err();
    assert_eq!(wrong.key, "RENTOPS_OTLP_PROTOCOL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_go_out_over_http_and_are_flushed_when_the_service_stops() {
    let (url, received) = collector().await;
    let guard = telemetry::init(
        "otlp-test",
        LogFormat::Text,
        &TraceSettings {
            otlp_endpoint: Some(url),
            otlp_protocol: OtlpProtocol::HttpProtobuf,
            filter: "info".into(),
        },
    )
    .unwrap();
    tracing::info_span!("placed an order", order = "O-1").in_scope(|| tracing::info!("done"));
    assert!(
        received.lock().unwrap().is_empty(),
        "nothing is sent before the batch is due"
    );
    // The service stops: the provider's shutdown sends what it holds (a blocking call).
    tokio::task::spawn_blocking(move || drop(guard)).await.unwrap();

    let received = received.lock().unwrap();
    let (path, content_type, body) = received.first().expect("the collector received the batch at shutdown");
    assert_eq!(path, "/v1/traces");
    assert_eq!(content_type, "application/x-protobuf");
    let request = ExportTraceServiceRequest::decode(body.clone()).expect("an OTLP trace export");
    let resource = request.resource_spans.first().expect("spans of one resource");
    let service_name = resource
        .resource
        .as_ref()
        .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
        .and_then(|a| a.value.as_ref())
        .map(|v| format!("{:?}", v.value));
    assert!(service_name.is_some_and(|n| n.contains("otlp-test")), "{resource:?}");
    let names: Vec<&str> = resource
        .scope_spans
        .iter()
        .flat_map(|s| s.spans.iter().map(|s| s.name.as_str()))
        .collect();
    assert_eq!(names, ["placed an order"]);
}
