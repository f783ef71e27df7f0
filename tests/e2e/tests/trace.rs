//! One trace, every hop: a `ConfirmOrder` whose caller sent no trace context starts a trace, and
//! that trace runs through the append (the event carries its `traceparent`), across NATS into
//! fleet's projector, the city's re-plan, the plan's events, order's reactor that records the
//! assignment, and order's projector that shows it. Both services in-process on one real NATS,
//! SQLite and PostgreSQL; spans are read from the OpenTelemetry SDK's in-memory exporter.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use futures::StreamExt;
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use rentops_e2e::{Desk, last_sequence, until};
use rentops_proto::common::VehicleModel;
use rentops_runtime::ManualClock;
use rentops_runtime::config::LogFormat;
use time::OffsetDateTime;

/// The process's tracer: every span of both tests, in memory (simple processor: a span is there
/// as soon as it ends).
fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let guard =
            rentops_runtime::telemetry::install("rentops-e2e", LogFormat::Text, "info", provider).expect("telemetry");
        // For the whole process: the exporter is read until the last test ends.
        std::mem::forget(guard);
        exporter
    })
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|KeyValue { key: k, .. }| k.as_str() == key)
        .map(|kv| &kv.value)
}

fn text(span: &SpanData, key: &str) -> String {
    attribute(span, key)
        .map(|v| v.as_str().into_owned())
        .unwrap_or_default()
}

/// The trace id in a `traceparent` (`00-<trace id>-<span id>-<flags>`).
fn trace_of(traceparent: &str) -> TraceId {
    let hex = traceparent.split('-').nth(1).expect("a traceparent");
    TraceId::from_hex(hex).expect("a trace id")
}

/// The trace context (`ce-traceparent`) of the last message on `subject` of `stream`.
async fn traceparent(nats: &str, stream: &str, subject: &str) -> String {
    let js = async_nats::jetstream::new(async_nats::connect(nats).await.unwrap());
    let message = js
        .get_stream(stream)
        .await
        .unwrap()
        .get_last_raw_message_by_subject(subject)
        .await
        .unwrap_or_else(|e| panic!("no message on {subject}: {e}"));
    message
        .headers
        .get(rentops_eventstore::TraceContext::TRACEPARENT)
        .unwrap_or_else(|| panic!("the event on {subject} carries no traceparent"))
        .as_str()
        .to_owned()
}

/// Subjects of every message of `stream` matching `filter`.
async fn subjects(nats: &str, stream: &str, filter: &str) -> Vec<(String, String)> {
    let js = async_nats::jetstream::new(async_nats::connect(nats).await.unwrap());
    let stream = js.get_stream(stream).await.unwrap();
    let last = stream.get_info().await.unwrap().state.last_sequence;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            filter_subject: filter.to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut out = Vec::new();
    while let Some(m) = messages.next().await {
        let m = m.unwrap();
        let info = m.info().unwrap();
        let (seq, pending) = (info.stream_sequence, info.pending);
        let tp = m
            .headers
            .as_ref()
            .and_then(|h| h.get(rentops_eventstore::TraceContext::TRACEPARENT))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        out.push((m.subject.to_string(), tp));
        if pending == 0 || seq >= last {
            break;
        }
    }
    out
}

rentops_testkit::per_backend! {
    async fn a_confirmation_is_one_trace_through_fleets_replan_and_back_to_the_order(order_db: TestDatabase, fleet_db: TestDatabase) {
        let spans = exporter();
        let t0 = OffsetDateTime::now_utc().date().next_day().unwrap().with_hms(1, 0, 0).unwrap().assume_utc();
        let clock = ManualClock::at(t0);
        let mut desk = Desk::start(&order_db, &fleet_db, clock.clone()).await;
        let nats = desk.nats_url();
        desk.city_sha().await;
        desk.register("V1", "沪AD00001", VehicleModel::Es6, "PVG").await;
        // The city's set-up is planned before the order comes: a re-plan continues the newest
        // request's trace, and a registration fleet's projector took in late would be newer
        // than the confirmation.
        let fleet_seq = last_sequence(&nats, "FLEET").await;
        let fleet = desk.fleet_app();
        fleet.fleet_projector.checkpoints.wait_for(fleet_seq, std::time::Duration::from_secs(30)).await.expect("fleet's own events applied");
        until(desk.label, "the set-up planned", || async {
            let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM replan_requests")
                .fetch_one(&fleet.db.pool)
                .await
                .expect("pending re-plans");
            if pending > 0 {
                fleet.reactions.next_full_pass(std::time::Duration::from_secs(30)).await.expect("a pass");
            }
            (pending, pending == 0)
        })
        .await;
        // The desk's client sends no trace context with any of its calls.
        let order_id = desk
            .confirmed_order("APP-TRACE-1", VehicleModel::Es6, t0 + time::Duration::hours(2), t0 + time::Duration::hours(26))
            .await;
        desk.order_when(&order_id, "V1 planned for the order", |o| o.assigned_vehicle_id == "V1").await;

        // The confirmation's event carries the trace its command started.
        let confirmed = traceparent(&nats, "ORDER", &format!("rentops.order.order.{order_id}.OrderConfirmed")).await;
        let trace = trace_of(&confirmed);
        let in_trace = || -> Vec<SpanData> {
            spans
                .get_finished_spans()
                .unwrap()
                .into_iter()
                .filter(|s| s.span_context.trace_id() == trace)
                .collect()
        };
        let confirm_span = in_trace()
            .into_iter()
            .find(|s| s.name == "rentops.order.v1.OrderService/ConfirmOrder")
            .expect("the ConfirmOrder server span is in the event's trace");
        assert_eq!(
            confirm_span.parent_span_id,
            SpanId::INVALID,
            "the caller sent no trace context: the server span starts the trace"
        );

        // Every hop, in the same trace. Spans are exported as they end: wait for the last hop.
        let label = desk.label;
        until(label, "every hop of the confirmation's trace", || async {
            let all = in_trace();
            let has = |name: &str, key: &str, value: &str, subject_end: &str| {
                all.iter().any(|s| {
                    s.name == name
                        && text(s, key) == value
                        && (subject_end.is_empty() || text(s, "messaging.destination.name").ends_with(subject_end))
                })
            };
            let hops = [
                ("fleet's projector applies the confirmation", has("project", "rentops.handler", "fleet-demand", ".OrderConfirmed")),
                ("fleet re-plans the city", has("replan", "city", "SHA", "")),
                ("order's reactor takes fleet's assignment", has("react", "reactor", "order-fleet-plan", ".VehicleAssigned")),
                (
                    "order's projector applies the recorded assignment",
                    has("project", "rentops.handler", "order-orders", ".VehicleAssignmentRecorded"),
                ),
            ];
            let ready = hops.iter().all(|(_, ok)| *ok);
            (hops, ready)
        })
        .await;
        let hops = in_trace();

        // The events written on the way carry the same trace: fleet's plan and the order's
        // recorded assignment.
        for (stream, filter, name) in [
            ("FLEET", "rentops.fleet.plan.SHA.*".to_owned(), "VehicleAssigned"),
            ("ORDER", format!("rentops.order.order.{order_id}.*"), "VehicleAssignmentRecorded"),
        ] {
            let written = subjects(&nats, stream, &filter).await;
            let carrying: Vec<_> = written.iter().filter(|(s, _)| s.ends_with(name)).collect();
            assert!(!carrying.is_empty(), "{label}: no {name} on {filter}: {written:?}");
            for (subject, tp) in carrying {
                assert!(!tp.is_empty(), "{label}: {subject} carries no traceparent");
                assert_eq!(trace_of(tp), trace, "{label}: {subject} is in another trace");
            }
        }

        // A hop's span is a child within the trace, not a new root: only the server span has
        // no parent.
        let roots: Vec<_> = hops.iter().filter(|s| s.parent_span_id == SpanId::INVALID).map(|s| s.name.clone()).collect();
        assert_eq!(roots, ["rentops.order.v1.OrderService/ConfirmOrder"], "{label}: one root");
        desk.stop().await;
    }
}
