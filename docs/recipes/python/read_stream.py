#!/usr/bin/env python3
"""Reads a rentops event stream from NATS JetStream and prints each event as a JSON line.

Every event is one message: CloudEvents 1.0 in binary mode, lean (the attributes the subject
carries are not repeated in headers, see `envelope()`), the body the protobuf message of the
event's type (`rentops.<service>.v1.<EventName>` is the message's full name in `proto/`).
This reader uses a pull consumer of its own: named, created by the reader, acknowledging
nothing, deleted when the reader ends (and by the server a minute after a reader that died), so
it cannot block or hold back the services' own durable consumers.

    python3 read_stream.py --user analyst --password-file data/nats-auth/analyst.password \
        --stream ORDER --from-sequence 1 --classes gen/ > order.jsonl

`--classes` is the directory the classes were generated into (see README.md beside this file).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib
import json
import os
import pathlib
import sys
import uuid
from datetime import datetime

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from google.protobuf import json_format, symbol_database


def load_classes(root: pathlib.Path) -> symbol_database.SymbolDatabase:
    """Imports every generated `*_pb2.py` under `root`, which registers its messages."""
    sys.path.insert(0, str(root))
    for module in sorted(root.rglob("*_pb2.py")):
        name = ".".join(module.relative_to(root).with_suffix("").parts)
        importlib.import_module(name)
    return symbol_database.Default()


def _millis(time: str) -> int:
    """The Unix millisecond of an RFC 3339 time as `ce-time` writes it (up to nine digits of
    fraction, `Z` or an offset), without rounding: what the event id's timestamp holds."""
    date, _, rest = time.partition("T")
    offset = "+00:00"
    for sign in ("Z", "+", "-"):
        head, mark, tail = rest.partition(sign)
        if mark:
            rest, offset = head, ("+00:00" if sign == "Z" else sign + tail)
            break
    clock, _, fraction = rest.partition(".")
    whole = datetime.fromisoformat(f"{date}T{clock}{offset}")
    return int(whole.timestamp()) * 1000 + int((fraction + "000")[:3])


def event_id(service: str, msg_id: str, time: str) -> str:
    """The event's id, which the log derives rather than writes: a UUID v7 whose timestamp is the
    decision's millisecond and whose other bits are the first of SHA-256 over
    `<service>\n<Nats-Msg-Id>\n<ce-time>` (the header's text)."""
    r = hashlib.sha256(f"{service}\n{msg_id}\n{time}".encode()).digest()
    b = max(_millis(time), 0).to_bytes(6, "big") + bytes([0x70 | (r[0] & 0x0F), r[1], 0x80 | (r[2] & 0x3F)]) + r[3:10]
    return str(uuid.UUID(bytes=b))


def envelope(subject: str, headers: dict) -> dict:
    """The CloudEvents attributes of an event, whole.

    The envelope is lean: what the subject says (`source`, `subject`, `type`) and what never
    changes (`specversion` 1.0, `datacontenttype` application/protobuf) is not written, the
    request id is inside `Nats-Msg-Id` (`<aggregate id>:<request id>:<position>`), and the
    correlation and causation ids are written only when they are not the request id. The event
    id is derived from the message (`event_id`); a `ce-id` header, which events written before
    that and events made up by hand carry, wins.
    """
    _, service, _aggregate, aggregate_id, name = subject.split(".")
    request_id = None
    msg_id = headers.get("Nats-Msg-Id", "")
    if msg_id.startswith(aggregate_id + ":"):
        rest, _, position = msg_id[len(aggregate_id) + 1 :].rpartition(":")
        if rest and position.isdigit():
            request_id = rest
    return {
        "id": headers.get("ce-id") or (event_id(service, msg_id, headers["ce-time"]) if msg_id and "ce-time" in headers else None),
        "type": f"rentops.{service}.v1.{name}",
        "source": service,
        "aggregate_id": aggregate_id,
        "time": headers.get("ce-time"),
        "request_id": request_id,
        "correlation_id": headers.get("ce-correlationid", request_id),
        "causation_id": headers.get("ce-causationid", request_id),
        "actor": headers.get("ce-actor"),
        "traceparent": headers.get("ce-traceparent") or headers.get("traceparent"),
    }


def decode(db: symbol_database.SymbolDatabase, msg) -> dict:
    """The event as a dict: its stream position, envelope attributes and decoded data."""
    event = {"sequence": msg.metadata.sequence.stream, "subject": msg.subject}
    event.update(envelope(msg.subject, msg.headers or {}))
    try:
        cls = db.GetSymbol(event["type"])
    except KeyError:
        cls = None
    if cls is None:
        # A type this reader's classes do not know (a newer schema): keep the bytes visible.
        event["data_hex"] = msg.data.hex()
    else:
        message = cls()
        message.ParseFromString(msg.data)
        event["data"] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return event


async def connect(args: argparse.Namespace):
    """Connects as the analyst: the user and its password (from a file, as the local cluster
    writes it, or RENTOPS_NATS_PASSWORD), or without credentials on a server that has no users."""
    options = {}
    if args.user:
        if args.password_file:
            password = pathlib.Path(args.password_file).read_text(encoding="utf-8").strip()
        else:
            password = os.environ.get("RENTOPS_NATS_PASSWORD", "")
        if not password:
            raise SystemExit("--user needs --password-file (or RENTOPS_NATS_PASSWORD)")
        options = {"user": args.user, "password": password}
    return await nats.connect(args.nats_url.split(","), **options)


async def read(args: argparse.Namespace) -> int:
    db = load_classes(pathlib.Path(args.classes))
    nc = await connect(args)
    js = nc.jetstream()
    info = await js.stream_info(args.stream)
    last = info.state.last_seq
    subject = args.subject or f"rentops.{args.stream.lower()}.>"
    # A consumer of the reader's own: named (an analyst may only create consumers by name, so
    # none can be mistaken for a service's), acknowledging nothing, in memory, and removed by
    # the server a minute after the reader goes away.
    config = ConsumerConfig(
        name=f"analyst-py-{uuid.uuid4().hex[:12]}",
        filter_subject=subject,
        ack_policy=AckPolicy.NONE,
        mem_storage=True,
        inactive_threshold=60.0,
    )
    if args.from_time:
        config.deliver_policy = DeliverPolicy.BY_START_TIME
        config.opt_start_time = datetime.fromisoformat(args.from_time).isoformat()
    else:
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = max(args.from_sequence, 1)
    await js.add_consumer(args.stream, config)
    sub = await js.pull_subscribe_bind(config.name, stream=args.stream)
    printed = 0
    try:
        done = last == 0
        while not done:
            try:
                batch = await sub.fetch(batch=256, timeout=args.idle_secs)
            except nats.errors.TimeoutError:
                if args.follow:
                    continue
                break
            for msg in batch:
                event = decode(db, msg)
                if not args.type or event["type"].endswith("." + args.type):
                    print(json.dumps(event, ensure_ascii=False), flush=True)
                    printed += 1
                if args.limit and printed >= args.limit:
                    done = True
                    break
                # Stop at the stream's end as it was when the reader started (a bounded export);
                # --follow keeps reading new events.
                if not args.follow and msg.metadata.sequence.stream >= last:
                    done = True
                    break
    finally:
        await js.delete_consumer(args.stream, config.name)
        await nc.close()
    print(f"read {printed} event(s) of {args.stream}", file=sys.stderr)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nats-url", default="nats://127.0.0.1:14222", help="comma-separated seed list")
    p.add_argument(
        "--user", default=os.environ.get("RENTOPS_NATS_USER"), help="the NATS user, e.g. analyst (RENTOPS_NATS_USER)"
    )
    p.add_argument(
        "--password-file",
        default=os.environ.get("RENTOPS_NATS_PASSWORD_FILE"),
        help="a file holding the user's password (RENTOPS_NATS_PASSWORD_FILE); the local cluster prints its path",
    )
    p.add_argument("--stream", default="ORDER", help="ORDER, FLEET, RECEIVABLES, COMPLAINT")
    p.add_argument("--subject", help="a subject filter inside the stream, e.g. rentops.order.order.<id>.>")
    p.add_argument("--type", help="only this event name, e.g. OrderPlaced")
    p.add_argument("--from-sequence", type=int, default=1)
    p.add_argument("--from-time", help="RFC 3339 start time instead of a sequence")
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--follow", action="store_true", help="keep reading new events")
    p.add_argument("--idle-secs", type=float, default=5.0, help="give up after this long without a message")
    p.add_argument("--classes", default="gen", help="where the classes from proto/ were generated")
    return asyncio.run(read(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
