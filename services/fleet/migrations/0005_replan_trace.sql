-- A re-plan continues the trace of the change that asked for it: each request keeps the W3C
-- trace context of its event ('' when the event carried none). Same SQL on both backends.
ALTER TABLE replan_requests ADD COLUMN traceparent TEXT NOT NULL DEFAULT '';
ALTER TABLE replan_requests ADD COLUMN tracestate TEXT NOT NULL DEFAULT '';
