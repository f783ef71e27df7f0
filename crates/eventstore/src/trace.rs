//! W3C trace context over NATS headers. OpenTelemetry has no NATS convention yet, so the
//! propagator is driven through an injector / extractor over the message's header map, which
//! carries the context as the CloudEvents distributed-tracing extension does
//! ([`TraceContext::TRACEPARENT`], `ce-traceparent`).

use async_nats::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::envelope::{RecordedEvent, TraceContext};

struct HeaderInjector<'a>(&'a mut HeaderMap);

/// The names the W3C propagator reads and writes.
const W3C_TRACEPARENT: &str = "traceparent";
const W3C_TRACESTATE: &str = "tracestate";

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The propagator writes `tracestate` even when it is empty: an empty header says nothing
        // and costs every event its bytes.
        if value.is_empty() {
            return;
        }
        let name = match key {
            W3C_TRACEPARENT => TraceContext::TRACEPARENT,
            W3C_TRACESTATE => TraceContext::TRACESTATE,
            other => other,
        };
        self.0.insert(name, value.as_str());
    }
}

/// Writes the current span's context (`ce-traceparent`, `ce-tracestate`) into the headers.
pub fn inject_current(headers: &mut HeaderMap) {
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut HeaderInjector(headers));
    });
}

/// The OpenTelemetry context of the trace an event carries (the empty context when it carries
/// none).
pub fn context_of(event: &RecordedEvent) -> opentelemetry::Context {
    event.trace.as_ref().map_or_else(opentelemetry::Context::new, context)
}

/// The OpenTelemetry context of a stored trace context.
pub fn context(trace: &TraceContext) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&TraceExtractor(trace)))
}

/// Makes `span` a child of the trace `event` carries, so whatever handles the event (a
/// projector, a reactor and the commands it issues) is part of the command's trace.
pub fn continue_from(span: &tracing::Span, event: &RecordedEvent) {
    if let Some(trace) = &event.trace {
        continue_trace(span, trace);
    }
}

/// Makes `span` a child of `trace` (kept from an event, e.g. in a table of work to do).
pub fn continue_trace(span: &tracing::Span, trace: &TraceContext) {
    // Fails only when the span is disabled or already started: tracing goes on unlinked.
    let _ = span.set_parent(context(trace));
}

/// Links `span` to `trace`: work done for several events at once (one re-plan for a city's
/// gathered changes) is the child of one of them and linked to the others.
pub fn link_trace(span: &tracing::Span, trace: &TraceContext) {
    use opentelemetry::trace::TraceContextExt as _;
    let cx = context(trace);
    let linked = cx.span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}

struct TraceExtractor<'a>(&'a TraceContext);

impl Extractor for TraceExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            W3C_TRACEPARENT => Some(&self.0.traceparent),
            W3C_TRACESTATE => self.0.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![W3C_TRACEPARENT, W3C_TRACESTATE]
    }
}

/// Records, in the trace of every event of `events` that carries one, a span `name` (kind
/// consumer) from `start` to `end`: a projector applies events in batches of one transaction, so
/// each event's trace shows when, and in which batch, `handler` applied it.
pub fn record_batch(
    name: &'static str,
    handler: &str,
    events: &[RecordedEvent],
    start: std::time::SystemTime,
    end: std::time::SystemTime,
) {
    use opentelemetry::KeyValue;
    use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt as _, Tracer as _};
    let tracer = opentelemetry::global::tracer("rentops");
    let size = i64::try_from(events.len()).unwrap_or(i64::MAX);
    for event in events.iter().filter(|e| e.trace.is_some()) {
        let cx = context_of(event);
        if !cx.span().span_context().is_valid() {
            continue;
        }
        let mut span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Consumer)
            .with_start_time(start)
            .with_attributes([
                KeyValue::new("rentops.handler", handler.to_owned()),
                KeyValue::new("rentops.sequence", i64::try_from(event.sequence).unwrap_or(i64::MAX)),
                KeyValue::new("rentops.batch_events", size),
                KeyValue::new("messaging.system", "nats"),
                KeyValue::new("messaging.destination.name", event.subject.clone()),
                KeyValue::new("messaging.message.id", event.meta.event_id.to_string()),
            ])
            .start_with_context(&tracer, &cx);
        span.end_with_timestamp(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_propagators_names_are_written_as_the_cloudevents_attributes() {
        let mut headers = HeaderMap::new();
        let mut injector = HeaderInjector(&mut headers);
        injector.set(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        );
        injector.set("tracestate", String::new());
        assert_eq!(
            headers.get(TraceContext::TRACEPARENT).map(|v| v.as_str()),
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        );
        assert!(
            headers.get("traceparent").is_none(),
            "nats-server would parse every header for it"
        );
        assert!(
            headers.get(TraceContext::TRACESTATE).is_none(),
            "an empty tracestate says nothing"
        );
        // And read back through the propagator's names.
        let trace = TraceContext::of(Some(&headers)).unwrap();
        let extractor = TraceExtractor(&trace);
        assert_eq!(extractor.get("traceparent"), Some(trace.traceparent.as_str()));
        assert_eq!(extractor.get("tracestate"), None);
    }
}
