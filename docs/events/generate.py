#!/usr/bin/env python3
"""Generates the event catalogue (docs/events/CATALOGUE.md) from proto/ and docs/events/emitters.toml.

    docs/events/generate.py           rewrite CATALOGUE.md
    docs/events/generate.py --check   fail when CATALOGUE.md is not what proto/ and emitters.toml give

The schemas come from `buf build` (the descriptor set with its comments). An event is a top-level
message of a `rentops/<service>/v1/events.proto` that no other message uses as a field type; each
must have its emitter and rule in emitters.toml, and every entry there must name an event.
Needs only the standard library and buf (deploy/local/install-buf.sh).
"""

from __future__ import annotations

import argparse
import difflib
import json
import pathlib
import re
import subprocess
import sys
import tomllib

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
CATALOGUE = HERE / "CATALOGUE.md"
EMITTERS = HERE / "emitters.toml"

SCALAR_EXAMPLES = {
    "TYPE_STRING": "…",
    "TYPE_BOOL": True,
    "TYPE_INT32": 1,
    "TYPE_INT64": "1",
    "TYPE_UINT32": 1,
    "TYPE_UINT64": "1",
    "TYPE_SINT32": 1,
    "TYPE_SINT64": "1",
    "TYPE_FIXED32": 1,
    "TYPE_FIXED64": "1",
    "TYPE_DOUBLE": 1.5,
    "TYPE_FLOAT": 1.5,
    "TYPE_BYTES": "AQID",
}
TYPE_NAMES = {k: k.removeprefix("TYPE_").lower() for k in SCALAR_EXAMPLES}

ENVELOPE = """\
## The envelope

Every event is one NATS message in its service's stream, CloudEvents 1.0 in binary mode, kept
lean: the body is the protobuf message of the event's type, and an attribute the subject or the
append's own headers already carry is not written again.

| header | meaning |
|---|---|
| `Nats-Msg-Id` | `<aggregate id>:<request id>:<position in the decision>`: the broker stores a retried append once (duplicate window); the request id (the command's idempotency key) is read from it |
| `Nats-Expected-Last-Subject-Sequence` (+ `-Subject`) | optimistic concurrency, on a decision's first event: the append is refused when the aggregate has moved on |
| `Nats-Batch-Id`, `Nats-Batch-Sequence`, `Nats-Batch-Commit` | a decision of several events is one atomic batch: all are stored or none |
| `ce-id` | not written by an append: the event's id (UUID v7, time-ordered) is derived from `Nats-Msg-Id` and `ce-time` (below); written only on an event given an id of its own |
| `ce-time` | when the decision was taken (RFC 3339) |
| `ce-actor` | who asked: a user, or a service's reactor |
| `ce-correlationid` | shared by every event that one request led to, across services; absent: the request id |
| `ce-causationid` | the event or request that caused this one; absent: the request id |
| `ce-requestfp` | on a decision's first event: a hash of the request (16 hex digits), so the same id with other content is refused |
| `ce-traceparent`, `ce-tracestate` | W3C trace context of the command that wrote it, as the CloudEvents distributed-tracing extension carries it (`ce-tracestate` only when it says something); events written before carry a bare `traceparent` |

The CloudEvents attributes the subject carries are not headers: `source` is the subject's second
token (the service), `subject` its fourth (the aggregate id), `type` is
`rentops.<service>.v1.<EventName>` (the body's protobuf message); `specversion` is `1.0` and
`datacontenttype` `application/protobuf`. `rentops events tail` and the Python recipe show every
attribute.

The event id (`id`) is derived, not written: a UUID v7 whose 48-bit timestamp is `ce-time`'s
millisecond and whose other bits are the first 10 bytes `h` of SHA-256 over
`<service>\\n<Nats-Msg-Id>\\n<ce-time>` (`\\n` a newline, `ce-time` as the header's text), in
the v7 layout: bytes 0–5 the millisecond (big-endian), byte 6 `0x70 | (h[0] & 0x0F)`, byte 7
`h[1]`, byte 8 `0x80 | (h[2] & 0x3F)`, bytes 9–15 `h[3..10]`. It is as unique as the message id
the broker de-duplicates on, and a retried append derives the same one. An event that carries a
`ce-id` header has that id.

The subject is `rentops.<service>.<aggregate>.<aggregate id>.<EventName>`. Schemas only grow:
fields are added, never renumbered, retyped or renamed (`proto/check.sh` checks every change
against the released schema). Reading the streams from Python: `docs/recipes/python/`.
"""


def descriptor_set() -> dict:
    buf = subprocess.run(
        [str(REPO / "deploy/local/install-buf.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()
    out = subprocess.run(
        [buf, "build", "-o", "-#format=json"], cwd=REPO / "proto", check=True, capture_output=True
    ).stdout
    return json.loads(out)


def comments(file: dict) -> dict[tuple, str]:
    found = {}
    for loc in file.get("sourceCodeInfo", {}).get("location", []):
        text = loc.get("leadingComments") or loc.get("trailingComments")
        if text:
            found[tuple(loc["path"])] = " ".join(line.strip() for line in text.strip().splitlines())
    return found


def index(fds: dict) -> tuple[dict, dict]:
    """Every message and enum by full name, with the comments of its file."""
    messages, enums = {}, {}
    for file in fds["file"]:
        pkg = file.get("package", "")
        notes = comments(file)

        def walk(msgs, prefix, path):
            for i, m in enumerate(msgs):
                name = f"{prefix}.{m['name']}"
                messages[name] = (m, notes, path + (4 if not path else 3, i), file["name"])
                walk(m.get("nestedType", []), name, path + ((4 if not path else 3), i))
                for e in m.get("enumType", []):
                    enums[f"{name}.{e['name']}"] = e

        walk(file.get("messageType", []), f".{pkg}", ())
        for e in file.get("enumType", []):
            enums[f".{pkg}.{e['name']}"] = e
    return messages, enums


def example(msg: dict, messages: dict, enums: dict, depth: int = 0) -> dict:
    out, seen_oneofs = {}, set()
    for f in msg.get("field", []):
        if "oneofIndex" in f and not f.get("proto3Optional"):
            if f["oneofIndex"] in seen_oneofs:
                continue
            seen_oneofs.add(f["oneofIndex"])
        t = f["type"]
        if t == "TYPE_MESSAGE":
            tn = f["typeName"]
            if tn == ".google.protobuf.Timestamp":
                value = "2026-12-01T02:00:00Z"
            elif depth < 3 and tn in messages:
                value = example(messages[tn][0], messages, enums, depth + 1)
            else:
                value = {}
        elif t == "TYPE_ENUM":
            values = enums.get(f["typeName"], {}).get("value", [])
            value = values[1]["name"] if len(values) > 1 else (values[0]["name"] if values else 0)
        else:
            value = SCALAR_EXAMPLES.get(t, "…")
            if t == "TYPE_STRING":
                value = f"<{f['name']}>"
        if f.get("label") == "LABEL_REPEATED":
            value = [value]
        out[f["name"]] = value
    return out


def type_of(f: dict) -> str:
    t = f["type"]
    name = f["typeName"].lstrip(".") if t in ("TYPE_MESSAGE", "TYPE_ENUM") else TYPE_NAMES.get(t, t)
    if f.get("label") == "LABEL_REPEATED":
        name = f"repeated {name}"
    return name


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(fds: dict, emitters: dict) -> tuple[str, list[str]]:
    messages, enums = index(fds)
    errors = []
    streams = emitters.get("streams", {})
    events_by_service: dict[str, list[str]] = {}
    for file in sorted(fds["file"], key=lambda f: f["name"]):
        m = re.fullmatch(r"rentops/(\w+)/v1/events\.proto", file["name"])
        if not m:
            continue
        service = m.group(1)
        pkg = file["package"]
        msgs = file.get("messageType", [])
        # `<Aggregate>Event`: the union of an aggregate's events (a oneof of them, used by the
        # APIs' histories), not an event itself.
        unions = {
            msg["name"]
            for msg in msgs
            if msg["name"].endswith("Event")
            and msg.get("field")
            and all("oneofIndex" in f and f["type"] == "TYPE_MESSAGE" for f in msg["field"])
        }
        used_as_field = {
            f["typeName"]
            for msg in msgs
            if msg["name"] not in unions
            for f in msg.get("field", [])
            if f["type"] == "TYPE_MESSAGE"
        }
        for msg in msgs:
            full = f".{pkg}.{msg['name']}"
            if msg["name"] not in unions and full not in used_as_field:
                events_by_service.setdefault(service, []).append(full)

    lines = [
        "# Event catalogue",
        "",
        "Generated by `docs/events/generate.py` from `proto/` and `docs/events/emitters.toml`; CI fails",
        "when it is out of date. Do not edit by hand.",
        "",
        ENVELOPE,
        "## Streams",
        "",
        "| stream | service | subjects | aggregates and subjects | events |",
        "|---|---|---|---|---|",
    ]
    for stream, s in sorted(streams.items()):
        aggs = "<br>".join(f"{a}: `{p}`" for a, p in sorted(s.get("aggregates", {}).items()))
        lines.append(
            f"| `{stream}` | {s['service']} | `{s['subjects']}` | {aggs} | {len(events_by_service.get(s['service'], []))} |"
        )
    known = {k for k in emitters if k != "streams"}
    listed = set()
    for service in sorted(events_by_service):
        if not any(s["service"] == service for s in streams.values()):
            errors.append(f"no [streams.*] entry for service {service}")
        lines += ["", f"## {service}", ""]
        for full in events_by_service[service]:
            msg, notes, path, _ = messages[full]
            ce_type = full.lstrip(".")
            listed.add(ce_type)
            entry = emitters.get(ce_type)
            if entry is None:
                errors.append(f"{ce_type}: no entry in emitters.toml (emitted_by, rule)")
                entry = {}
            lines += [f"### `{ce_type}`", ""]
            if notes.get(path):
                lines += [notes[path], ""]
            if entry.get("aggregate"):
                lines.append(f"- **aggregate**: {entry['aggregate']}; subject "
                             f"`rentops.{service}.{entry['aggregate']}.<id>.{msg['name']}`")
            if entry.get("emitted_by"):
                lines.append("- **emitted by**: " + ", ".join(f"`{e}`" for e in entry["emitted_by"]))
            if entry.get("rule"):
                lines.append(f"- **rule**: {entry['rule']}")
            lines += ["", "| # | field | type | meaning |", "|---|---|---|---|"]
            for i, f in enumerate(msg.get("field", [])):
                note = notes.get(path + (2, i), "")
                lines.append(f"| {f['number']} | `{f['name']}` | `{type_of(f)}` | {cell(note)} |")
            lines += [
                "",
                "<details><summary>example (JSON of the body)</summary>",
                "",
                "```json",
                json.dumps(example(msg, messages, enums), ensure_ascii=False, indent=2),
                "```",
                "",
                "</details>",
                "",
            ]
    for stale in sorted(known - listed):
        errors.append(f"{stale}: in emitters.toml but not an event of proto/")
    return "\n".join(lines).rstrip() + "\n", errors


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true")
    args = p.parse_args()
    with EMITTERS.open("rb") as f:
        emitters = tomllib.load(f)
    text, errors = render(descriptor_set(), emitters)
    for e in errors:
        print(f"events: {e}", file=sys.stderr)
    if args.check:
        current = CATALOGUE.read_text(encoding="utf-8") if CATALOGUE.exists() else ""
        if current != text:
            diff = difflib.unified_diff(current.splitlines(), text.splitlines(), "CATALOGUE.md", "generated", lineterm="")
            print("\n".join(list(diff)[:40]), file=sys.stderr)
            print("events: docs/events/CATALOGUE.md is out of date: run docs/events/generate.py", file=sys.stderr)
            return 1
        if errors:
            return 1
        print("events: the catalogue is up to date")
        return 0
    CATALOGUE.write_text(text, encoding="utf-8")
    print(f"events: wrote {CATALOGUE.relative_to(REPO)} ({sum(len(v) for v in [text.splitlines()])} lines)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
