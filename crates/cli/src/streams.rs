//! `rentops events tail` and `rentops events export`: a service's event stream read straight from
//! NATS JetStream, each event decoded by its type against the schemas compiled into the
//! binary (`proto/`) and written as JSON lines, CSV or Parquet.
//!
//! The reader is an analyst's, never a service's: an ordered consumer of its own (ephemeral, no
//! acknowledgements, flow-controlled by the server), removed when the reader goes away, so it can
//! neither block nor hold back the services' durable consumers (it costs the server some work:
//! the export benchmark measures it). An export stops at the stream's
//! last event as it was when the export started and, with `--position`, records the last
//! sequence it wrote so a long export interrupted half-way continues where it stopped.
//!
//! An export is a pipeline: the reader (async, on the calling thread) takes messages from NATS
//! and hands them over in batches of `HANDOFF`; formatter threads (one a core, at most eight)
//! decode and format whole batches, whichever is free taking the next; the writer thread
//! appends the formatted batches in the order they were read, flushes the file and only then
//! records the position. Decoding is most of an export's work, so it is the part spread over
//! the cores; the order of the file never depends on which formatter was faster.
//!
//! Bodies are decoded typed where they can be: every message of the events files has a prost
//! struct with generated proto3 JSON (`crate::typed`), several times cheaper than reflection.
//! Reflection decodes what that table lacks, and writes a typed message that cannot be written
//! as it is (an enum value newer than this build, which reflection writes as its number).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull::OrderedConfig};
use clap::{Args, Subcommand, ValueEnum};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use rentops_eventstore::RecordedEvent;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::errors::Failure;
use crate::format::parse_time;

/// The services whose streams can be read (stream = the name in capitals).
const SERVICES: [&str; 4] = ["order", "fleet", "receivables", "complaint"];
/// Rows per Parquet row group, and events between two records of the position.
const CHUNK: usize = 10_000;
/// Messages the reader hands the export's formatters at a time, and batches that may wait for
/// a formatter (and, formatted, for the writer).
const HANDOFF: usize = 256;
const HANDOFF_QUEUE: usize = 16;

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Print a stream's events as they are appended (from now on, or from --from-sequence /
    /// --since), until interrupted or --limit events.
    Tail(TailArgs),
    /// Write a stream's events, up to its last one when the export starts, to a file.
    Export(ExportArgs),
}

/// Which events: one service's stream, narrowed by aggregate, aggregate id and event name.
#[derive(Debug, Args)]
pub struct Filter {
    /// The service whose stream to read: order, fleet, receivables or complaint.
    #[arg(long, value_parser = parse_service)]
    pub service: String,
    /// Only this aggregate type (e.g. order, vehicle, violation, ledger, case).
    #[arg(long, value_parser = parse_token)]
    pub aggregate: Option<String>,
    /// Only this aggregate's events (with --aggregate).
    #[arg(long, requires = "aggregate", value_parser = parse_token)]
    pub aggregate_id: Option<String>,
    /// Only these event names (e.g. OrderPlaced); repeat for several.
    #[arg(long = "type", value_parser = parse_token)]
    pub types: Vec<String>,
    /// Start at this stream sequence.
    #[arg(long, conflicts_with = "since", value_parser = clap::value_parser!(u64).range(1..))]
    pub from_sequence: Option<u64>,
    /// Start at the first event stored at or after this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<OffsetDateTime>,
    /// NATS server(s): one URL or a comma-separated seed list.
    #[arg(long, env = "RENTOPS_NATS_URL", default_value = "nats://127.0.0.1:14222")]
    pub nats_url: String,
    /// The NATS user to read as: an analyst's (`analyst` on the local cluster, whose password
    /// file deploy/local/run.sh prints).
    #[arg(long, env = "RENTOPS_NATS_USER")]
    pub nats_user: Option<String>,
    /// A file holding that user's password (else the variable RENTOPS_NATS_PASSWORD; a
    /// password is never taken on the command line).
    #[arg(long, env = "RENTOPS_NATS_PASSWORD_FILE", requires = "nats_user")]
    pub nats_password_file: Option<PathBuf>,
}

impl Filter {
    fn stream(&self) -> String {
        self.service.to_ascii_uppercase()
    }

    /// The subject filters: `rentops.<service>.<aggregate>.<id>.<EventName>`, wildcards where
    /// nothing narrows it.
    pub fn subjects(&self) -> Vec<String> {
        let aggregate = self.aggregate.as_deref().unwrap_or("*");
        let id = self.aggregate_id.as_deref().unwrap_or("*");
        if self.types.is_empty() {
            if self.aggregate.is_none() {
                return vec![format!("rentops.{}.>", self.service)];
            }
            return vec![format!("rentops.{}.{aggregate}.{id}.*", self.service)];
        }
        self.types
            .iter()
            .map(|t| format!("rentops.{}.{aggregate}.{id}.{t}", self.service))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// A header row, then one row per event; the event's content is a JSON column.
    Csv,
    /// Columns: sequence, time (UTC, µs), type, source, aggregate_id, id, correlation_id,
    /// causation_id, actor, subject, data (JSON).
    Parquet,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub filter: Filter,
    /// jsonl or csv.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: Format,
    /// Stop after this many events.
    #[arg(long)]
    pub limit: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub filter: Filter,
    /// The file to write (JSON lines and CSV are appended to when resuming).
    #[arg(long)]
    pub out: PathBuf,
    /// The file's format [default: from --out's extension: .csv, .parquet, else jsonl].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// A file keeping the last sequence written: a rerun with the same file continues after it.
    #[arg(long)]
    pub position: Option<PathBuf>,
    /// Stop after this many events (the position says where, for the next run).
    #[arg(long)]
    pub limit: Option<u64>,
    /// No progress bar on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Threads that decode and format the events (1 to 64) [default: one a core, at most 8].
    /// Fewer leave more of the machine to whatever else runs on it.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: Option<u16>,
}

fn parse_service(s: &str) -> Result<String, String> {
    let s = s.trim().to_ascii_lowercase();
    if SERVICES.contains(&s.as_str()) {
        Ok(s)
    } else {
        Err(format!("expected one of {}", SERVICES.join(", ")))
    }
}

/// One subject token: no dots, spaces or wildcards.
fn parse_token(s: &str) -> Result<String, String> {
    if s.is_empty() || s.chars().any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace()) {
        Err("must be one subject token: not empty, no '.', '*', '>' or spaces".into())
    } else {
        Ok(s.to_owned())
    }
}

pub async fn run(cmd: &EventsCommand) -> Result<String, Failure> {
    match cmd {
        EventsCommand::Tail(args) => tail(args).await.map_err(Failure::Other),
        EventsCommand::Export(args) => export(args).await.map_err(Failure::Other),
    }
}

/// One event as analysts read it: where it is, its envelope, and its content.
pub struct Row {
    pub sequence: u64,
    pub subject: String,
    pub id: String,
    pub event_type: String,
    pub source: String,
    pub aggregate_id: String,
    pub time: OffsetDateTime,
    pub correlation_id: String,
    pub causation_id: String,
    pub actor: String,
    /// The body as it came, for reflection when its typed message cannot be written.
    body: bytes::Bytes,
    pub data: Data,
}

/// An event's content, decoded.
pub enum Data {
    /// By a message generated from the events files (every event this build knows).
    Typed(Box<crate::typed::Event>),
    /// By reflection, against the schemas compiled into the binary.
    Reflected(DynamicMessage),
    /// Its type is unknown to this build (a newer schema) or its body is not that type: the
    /// body's bytes in hex.
    Undecoded(String),
}

/// A row as one JSON object: the envelope, then `data` with the field names of `proto/`
/// (serialized straight from the decoded message, no intermediate tree).
struct RowJson<'a>(&'a Row, &'a SerializeOptions);

/// The decoded message as JSON (`null` when it could not be decoded).
struct DataJson<'a>(&'a Data, &'a SerializeOptions);

impl Serialize for DataJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Data::Typed(event) => event.serialize(serializer),
            Data::Reflected(message) => message.serialize_with_options(serializer, self.1),
            Data::Undecoded(_) => serializer.serialize_none(),
        }
    }
}

impl Serialize for RowJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let r = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("sequence", &r.sequence)?;
        map.serialize_entry("subject", &r.subject)?;
        map.serialize_entry("id", &r.id)?;
        map.serialize_entry("type", &r.event_type)?;
        map.serialize_entry("source", &r.source)?;
        map.serialize_entry("aggregate_id", &r.aggregate_id)?;
        map.serialize_entry("time", &rfc3339(r.time))?;
        map.serialize_entry("correlation_id", &r.correlation_id)?;
        map.serialize_entry("causation_id", &r.causation_id)?;
        map.serialize_entry("actor", &r.actor)?;
        map.serialize_entry("data", &DataJson(&r.data, self.1))?;
        if let Data::Undecoded(hex) = &r.data {
            map.serialize_entry("undecoded", hex)?;
        }
        map.end()
    }
}

/// Decodes bodies by their type (`rentops.<service>.v1.<EventName>`) with the schemas this binary was built with.
pub struct Decoder {
    pool: DescriptorPool,
    options: SerializeOptions,
}

impl Decoder {
    pub fn new() -> anyhow::Result<Self> {
        let pool = DescriptorPool::decode(rentops_proto::FILE_DESCRIPTOR_SET).context("the compiled-in schemas")?;
        Ok(Self {
            pool,
            options: SerializeOptions::new().use_proto_field_name(true),
        })
    }

    /// The event decoded; its envelope moves into the row (an export's hot path copies nothing).
    pub fn row(&self, event: RecordedEvent) -> Row {
        let data = match crate::typed::Event::decode(&event.meta.event_type, &event.payload) {
            Some(Ok(typed)) => Data::Typed(Box::new(typed)),
            _ => self.reflect(&event.meta.event_type, &event.payload),
        };
        let meta = event.meta;
        Row {
            sequence: event.sequence,
            subject: event.subject,
            id: meta.event_id.to_string(),
            event_type: meta.event_type,
            source: meta.source,
            aggregate_id: meta.aggregate_id,
            time: meta.time,
            correlation_id: meta.correlation_id,
            causation_id: meta.causation_id,
            actor: meta.actor,
            body: event.payload,
            data,
        }
    }

    /// The body decoded by reflection, or in hex when no schema of this build decodes it.
    fn reflect(&self, type_name: &str, body: &[u8]) -> Data {
        self.pool
            .get_message_by_name(type_name)
            .and_then(|desc| DynamicMessage::decode(desc, body).ok())
            .map_or_else(
                || Data::Undecoded(body.iter().map(|b| format!("{b:02x}")).collect()),
                Data::Reflected,
            )
    }

    /// `write` of the row; when a typed message cannot be written (an enum value this build
    /// has no name for), once more with the body decoded by reflection.
    fn write_row<T>(&self, row: &mut Row, mut write: impl FnMut(&Row) -> anyhow::Result<T>) -> anyhow::Result<T> {
        match write(row) {
            Err(_) if matches!(row.data, Data::Typed(_)) => {
                row.data = self.reflect(&row.event_type, &row.body);
                write(row)
            }
            written => written,
        }
    }

    /// The `data` column of CSV and Parquet: the message as JSON, or the undecoded bytes in hex.
    fn data_text(&self, row: &Row) -> anyhow::Result<String> {
        Ok(match &row.data {
            Data::Undecoded(hex) => hex.clone(),
            data => serde_json::to_string(&DataJson(data, &self.options))?,
        })
    }
}

/// The events of a filter in stream order, from a start, through an ordered consumer.
struct Reader {
    messages: jetstream::consumer::pull::Ordered,
    /// Events the consumer had still to deliver when it was created.
    pending_at_start: u64,
    /// The stream's last sequence when the reader started.
    last_at_start: u64,
}

/// A message as it came, for a formatter's thread to decode.
struct Raw {
    sequence: u64,
    subject: async_nats::Subject,
    headers: Option<async_nats::HeaderMap>,
    payload: bytes::Bytes,
}

impl Raw {
    fn event(self) -> anyhow::Result<RecordedEvent> {
        let sequence = self.sequence;
        RecordedEvent::from_message(sequence, self.subject.as_str(), self.headers.as_ref(), self.payload)
            .with_context(|| format!("the message at sequence {sequence} is not a rentops event"))
    }
}

/// The NATS credentials of the flags and environment: `--nats-user` with `--nats-password-file`
/// (or RENTOPS_NATS_PASSWORD), read and checked as the services read theirs.
fn credentials(filter: &Filter) -> anyhow::Result<Option<rentops_runtime::NatsCredentials>> {
    let mut env = rentops_runtime::MapEnv::default();
    if let Some(user) = &filter.nats_user {
        env.0.insert("RENTOPS_NATS_USER".into(), user.clone());
    }
    match &filter.nats_password_file {
        Some(path) => {
            env.0
                .insert("RENTOPS_NATS_PASSWORD_FILE".into(), path.display().to_string());
        }
        None => {
            if let Ok(password) = std::env::var("RENTOPS_NATS_PASSWORD") {
                env.0.insert("RENTOPS_NATS_PASSWORD".into(), password);
            }
        }
    }
    rentops_runtime::NatsCredentials::read(&rentops_runtime::ConfigReader::new(&env))
        .map_err(|e| anyhow!("NATS credentials (--nats-user, --nats-password-file): {e}"))
}

/// What the server refused last on this connection (a permissions violation), to tell the
/// person why a request timed out.
#[derive(Clone, Default)]
struct Refusals(Arc<std::sync::Mutex<Option<String>>>);

impl Refusals {
    fn note(&self, what: String) {
        if let Ok(mut last) = self.0.lock() {
            *last = Some(what);
        }
    }

    /// `error`, with the server's refusal when there was one.
    fn explain(&self, error: anyhow::Error, user: Option<&str>) -> anyhow::Error {
        let last = self.0.lock().ok().and_then(|l| l.clone());
        match last {
            Some(refusal) => error.context(format!(
                "NATS refused it: {refusal} (user {}: its permissions do not allow this)",
                user.unwrap_or("without credentials")
            )),
            None => error,
        }
    }
}

async fn open(filter: &Filter, start: DeliverPolicy) -> anyhow::Result<Reader> {
    let addrs = rentops_eventstore::stream::server_addrs(&filter.nats_url).map_err(|e| anyhow!("{e}"))?;
    let creds = credentials(filter)?;
    let user = creds.as_ref().map(|c| c.user.as_str());
    let refusals = Refusals::default();
    let noted = refusals.clone();
    // Unlike a service, fail at once when nobody answers: a person is waiting.
    let client = rentops_eventstore::stream::client_options("rentops-events", creds.as_ref())
        .event_callback(move |event| {
            let noted = noted.clone();
            async move {
                if let async_nats::Event::ServerError(e) = event {
                    noted.note(e.to_string());
                }
            }
        })
        .connection_timeout(Duration::from_secs(5))
        .connect(addrs)
        .await
        .map_err(|e| {
            let refused = e.kind() == async_nats::ConnectErrorKind::AuthorizationViolation;
            let error = anyhow::Error::new(e).context(format!("cannot connect to NATS at {}", filter.nats_url));
            match (refused, user) {
                (true, Some(user)) => error.context(format!(
                    "NATS refused the credentials of user {user}: check --nats-user and --nats-password-file"
                )),
                (true, None) => error.context(
                    "NATS requires a user: --nats-user analyst --nats-password-file FILE (deploy/local/run.sh \
                     prints the local cluster's analyst password file)",
                ),
                (false, _) => error,
            }
        })?;
    let js = jetstream::new(client);
    let name = filter.stream();
    let mut stream = js.get_stream(&name).await.map_err(|e| {
        refusals.explain(
            anyhow::Error::new(e).context(format!("stream {name} (has the {} service run yet?)", filter.service)),
            user,
        )
    })?;
    let last_at_start = stream
        .info()
        .await
        .map_err(|e| refusals.explain(anyhow::Error::new(e).context("the stream's state"), user))?
        .state
        .last_sequence;
    let mut subjects = filter.subjects();
    let config = OrderedConfig {
        // Named, so it is created on the subject that carries its name: the only create the
        // analyst's NATS permissions allow (they keep the services' consumer names out).
        name: Some(format!("rentops-events-{}", uuid::Uuid::new_v4().simple())),
        filter_subject: if subjects.len() == 1 {
            subjects.remove(0)
        } else {
            String::new()
        },
        filter_subjects: subjects,
        deliver_policy: start,
        ..OrderedConfig::default()
    };
    let consumer = stream.create_consumer(config).await.map_err(|e| {
        refusals.explain(
            anyhow::Error::new(e).context("cannot create a reader of the stream"),
            user,
        )
    })?;
    let pending_at_start = consumer.cached_info().num_pending;
    let messages = consumer
        .messages()
        .await
        .map_err(|e| refusals.explain(anyhow::Error::new(e).context("cannot read the stream"), user))?;
    Ok(Reader {
        messages,
        pending_at_start,
        last_at_start,
    })
}

impl Reader {
    /// The next message and how many the consumer had still to deliver after it; `None` when
    /// the stream ended.
    async fn next(&mut self) -> anyhow::Result<Option<(Raw, u64)>> {
        let Some(message) = self.messages.next().await else {
            return Ok(None);
        };
        let message = message.context("reading the stream")?;
        let info = message
            .info()
            .map_err(|e| anyhow!("a message without stream metadata: {e}"))?;
        let (sequence, pending) = (info.stream_sequence, info.pending);
        let message = message.message;
        Ok(Some((
            Raw {
                sequence,
                subject: message.subject,
                headers: message.headers,
                payload: message.payload,
            },
            pending,
        )))
    }
}

fn start_policy(filter: &Filter, resume_after: Option<u64>, default: DeliverPolicy) -> DeliverPolicy {
    if let Some(after) = resume_after {
        return DeliverPolicy::ByStartSequence {
            start_sequence: after + 1,
        };
    }
    match (filter.from_sequence, filter.since) {
        (Some(start_sequence), _) => DeliverPolicy::ByStartSequence { start_sequence },
        (None, Some(start_time)) => DeliverPolicy::ByStartTime { start_time },
        (None, None) => default,
    }
}

async fn tail(args: &TailArgs) -> anyhow::Result<String> {
    if args.format == Format::Parquet {
        bail!("tail writes jsonl or csv to the terminal; use `rentops events export --format parquet`");
    }
    let decoder = Decoder::new()?;
    let mut reader = open(&args.filter, start_policy(&args.filter, None, DeliverPolicy::New)).await?;
    let mut sink = Sink::text(args.format, Box::new(std::io::stdout()), true)?;
    let mut written = 0u64;
    while args.limit.is_none_or(|limit| written < limit) {
        let Some((raw, _)) = reader.next().await? else { break };
        sink.write(format_batch(args.format, &decoder, vec![raw])?)?;
        sink.flush()?;
        written += 1;
    }
    Ok(String::new())
}

/// Where an export stands, kept in the `--position` file.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Position {
    stream: String,
    subjects: Vec<String>,
    /// The last sequence written.
    sequence: u64,
}

fn read_position(path: &Path, filter: &Filter) -> anyhow::Result<Option<u64>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let p: Position =
        serde_json::from_str(&text).with_context(|| format!("{} is not a position file", path.display()))?;
    if p.stream != filter.stream() || p.subjects != filter.subjects() {
        bail!(
            "{} is the position of another export ({} {}); give a new --position for this one",
            path.display(),
            p.stream,
            p.subjects.join(" ")
        );
    }
    Ok(Some(p.sequence))
}

/// Written to a temporary file and renamed, so an interruption never leaves half a position.
fn write_position(path: &Path, p: &Position) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(p)?).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

fn format_of(args: &ExportArgs) -> Format {
    args.format
        .unwrap_or(match args.out.extension().and_then(|e| e.to_str()) {
            Some("csv") => Format::Csv,
            Some("parquet") => Format::Parquet,
            _ => Format::Jsonl,
        })
}

/// The export's writer, on a thread of its own: it appends the formatted batches in stream
/// order while the formatters decode the next ones and the reader takes the next messages from
/// NATS. Every `CHUNK` events or so it flushes the file and then records the position, so the
/// position never says more than the file holds.
struct Writer {
    sink: Sink,
    position: Option<(PathBuf, Position)>,
    bar: ProgressBar,
}

/// A formatter's answer for one batch, in the order the batches were read.
type Pending = std::sync::mpsc::Receiver<anyhow::Result<Formatted>>;

impl Writer {
    fn run(self, batches: std::sync::mpsc::Receiver<Pending>) -> anyhow::Result<(u64, Option<u64>)> {
        let Writer {
            mut sink,
            mut position,
            bar,
        } = self;
        let mut save = |sequence: u64| -> anyhow::Result<()> {
            if let Some((path, position)) = &mut position {
                position.sequence = sequence;
                write_position(path, position)?;
            }
            Ok(())
        };
        let (mut written, mut unflushed) = (0u64, 0u64);
        let mut last = None;
        for pending in batches {
            let batch = pending
                .recv()
                .map_err(|_| anyhow!("the export's formatter stopped unexpectedly"))??;
            let (events, batch_last) = (batch.events, batch.last);
            sink.write(batch)?;
            written += events;
            unflushed += events;
            last = batch_last.or(last);
            bar.inc(events);
            if unflushed >= CHUNK as u64
                && let Some(sequence) = last
            {
                sink.flush()?;
                save(sequence)?;
                unflushed = 0;
            }
        }
        sink.finish()?;
        if let Some(sequence) = last {
            save(sequence)?;
        }
        Ok((written, last))
    }
}

/// Threads for the export's formatters: as asked, else one a core (decoding is the export's
/// main work), at most eight.
fn formatter_threads(asked: Option<u16>) -> usize {
    asked.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
        usize::from,
    )
}

/// A batch to decode and format, and where its answer goes.
type Job = (Vec<Raw>, std::sync::mpsc::SyncSender<anyhow::Result<Formatted>>);

/// Threads that decode and format batches of messages, each batch as a whole by whichever
/// thread is free; the answers come back through one receiver a batch, which the writer reads
/// in the order the batches were handed over.
struct Formatters {
    jobs: std::sync::mpsc::SyncSender<Job>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Formatters {
    fn start(format: Format, decoder: Arc<Decoder>, threads: usize) -> Self {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(HANDOFF_QUEUE);
        let queue = Arc::new(std::sync::Mutex::new(queue));
        let threads = (0..threads.max(1))
            .map(|_| {
                let (queue, decoder) = (queue.clone(), decoder.clone());
                std::thread::spawn(move || {
                    // The lock is held only to take the next job, not while formatting it.
                    while let Some((batch, answer)) = queue.lock().ok().and_then(|q| q.recv().ok()) {
                        // A writer that stopped no longer reads the answer.
                        let _ = answer.send(format_batch(format, &decoder, batch));
                    }
                })
            })
            .collect();
        Self { jobs, threads }
    }

    /// Hands a batch to the formatters; `None` when they stopped.
    fn submit(&self, batch: Vec<Raw>) -> Option<Pending> {
        let (answer, pending) = std::sync::mpsc::sync_channel(1);
        self.jobs.send((batch, answer)).ok().map(|()| pending)
    }

    /// Lets the threads finish the batches handed over, then end.
    fn stop(self) {
        drop(self.jobs);
        for thread in self.threads {
            // A thread that panicked has dropped its answer: the writer reports it.
            let _ = thread.join();
        }
    }
}

/// A batch of events decoded and formatted for its sink.
struct Formatted {
    events: u64,
    /// The sequence of the batch's last event.
    last: Option<u64>,
    body: Body,
}

enum Body {
    /// JSON lines or CSV records, appended to the file as they are.
    Text(Vec<u8>),
    /// Parquet rows, column by column.
    Columns(Box<Columns>),
}

/// A row as one JSON line, appended to `out`.
fn json_line(decoder: &Decoder, row: &mut Row, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let start = out.len();
    decoder.write_row(row, |row| {
        out.truncate(start);
        Ok(serde_json::to_writer(&mut *out, &RowJson(row, &decoder.options))?)
    })?;
    out.push(b'\n');
    Ok(())
}

/// Decodes a batch of messages and formats the events as `format` writes them.
fn format_batch(format: Format, decoder: &Decoder, batch: Vec<Raw>) -> anyhow::Result<Formatted> {
    let events = batch.len() as u64;
    let last = batch.last().map(|raw| raw.sequence);
    let body = match format {
        Format::Jsonl => {
            let mut out = Vec::with_capacity(batch.len() * 1024);
            for raw in batch {
                json_line(decoder, &mut decoder.row(raw.event()?), &mut out)?;
            }
            Body::Text(out)
        }
        Format::Csv => {
            let mut csv = csv::Writer::from_writer(Vec::with_capacity(batch.len() * 1024));
            for raw in batch {
                let mut row = decoder.row(raw.event()?);
                csv.write_record(decoder.write_row(&mut row, |row| csv_record(decoder, row))?)?;
            }
            Body::Text(csv.into_inner().map_err(|e| anyhow!("{}", e.error()))?)
        }
        Format::Parquet => {
            let mut columns = Columns::default();
            for raw in batch {
                let mut row = decoder.row(raw.event()?);
                let data = decoder.write_row(&mut row, |row| decoder.data_text(row))?;
                columns.push(&row, data)?;
            }
            Body::Columns(Box::new(columns))
        }
    };
    Ok(Formatted { events, last, body })
}

async fn export(args: &ExportArgs) -> anyhow::Result<String> {
    let format = format_of(args);
    let resume_after = match &args.position {
        Some(path) => read_position(path, &args.filter)?,
        None => None,
    };
    if resume_after.is_some() && (args.filter.from_sequence.is_some() || args.filter.since.is_some()) {
        bail!("--position says where to continue; --from-sequence and --since apply to a new export only");
    }
    let exists = args.out.exists();
    if format == Format::Parquet && exists {
        bail!(
            "{} exists and a Parquet file cannot be appended to; give a new --out (with --position the export continues after the last event written)",
            args.out.display()
        );
    }
    let decoder = Decoder::new()?;
    let mut reader = open(
        &args.filter,
        start_policy(&args.filter, resume_after, DeliverPolicy::All),
    )
    .await?;
    let total = match args.limit {
        Some(limit) => reader.pending_at_start.min(limit),
        None => reader.pending_at_start,
    };
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos}/{len} events [{elapsed}] {per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));

    let sink = match format {
        Format::Parquet => Sink::Parquet(Box::new(ParquetSink::create(&args.out)?)),
        Format::Jsonl | Format::Csv => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&args.out)
                .with_context(|| format!("cannot open {}", args.out.display()))?;
            let header = !exists || file.metadata().map(|m| m.len() == 0).unwrap_or(true);
            Sink::text(format, Box::new(BufWriter::with_capacity(1 << 20, file)), header)?
        }
    };
    let writer = Writer {
        sink,
        position: args.position.clone().map(|path| {
            let position = Position {
                stream: args.filter.stream(),
                subjects: args.filter.subjects(),
                sequence: resume_after.unwrap_or_default(),
            };
            (path, position)
        }),
        bar: bar.clone(),
    };
    // Messages go to the formatters in batches (handing over each one woke a thread per event,
    // about a twentieth of the export's time); the writer takes the batches back in order.
    let formatters = Formatters::start(format, Arc::new(decoder), formatter_threads(args.threads));
    let (to_writer, formatted) = std::sync::mpsc::sync_channel(HANDOFF_QUEUE);
    let writing = std::thread::spawn(move || writer.run(formatted));
    // False when a formatter or the writer stopped (the writer says why when joined).
    let hand_over = |batch: Vec<Raw>| {
        formatters
            .submit(batch)
            .is_some_and(|done| to_writer.send(done).is_ok())
    };
    let mut batch = Vec::with_capacity(HANDOFF);
    let mut sent = 0u64;
    let mut pending = total;
    let mut read_failed = None;
    while pending > 0 && args.limit.is_none_or(|limit| sent < limit) {
        let (raw, left) = match reader.next().await {
            Ok(Some(next)) => next,
            Ok(None) => break,
            Err(e) => {
                read_failed = Some(e);
                break;
            }
        };
        if raw.sequence > reader.last_at_start {
            break;
        }
        batch.push(raw);
        sent += 1;
        pending = left;
        if batch.len() == HANDOFF && !hand_over(std::mem::replace(&mut batch, Vec::with_capacity(HANDOFF))) {
            break;
        }
    }
    if !batch.is_empty() {
        hand_over(batch);
    }
    drop(to_writer);
    formatters.stop();
    let (written, last) = writing
        .join()
        .map_err(|_| anyhow!("the export's writer stopped unexpectedly"))??;
    if let Some(e) = read_failed {
        return Err(e.context(format!("after {written} event(s) written (the position says where)")));
    }
    bar.finish_and_clear();
    let last = last.or(resume_after);
    let until = match (written, last) {
        (0, Some(s)) => format!("nothing new after sequence {s}"),
        (0, None) => "nothing new".to_owned(),
        (_, Some(s)) => format!("up to sequence {s}"),
        (_, None) => String::new(),
    };
    let more = if pending > 0 && last.is_some_and(|s| s < reader.last_at_start) {
        " (more to export: run it again with the same --position)"
    } else {
        ""
    };
    Ok(format!(
        "{}\n",
        json!({
            "exported": written,
            "stream": args.filter.stream(),
            "out": args.out.display().to_string(),
            "last_sequence": last,
            "summary": format!("{written} event(s) of {} {until}{more}", args.filter.stream()),
        })
    ))
}

const CSV_COLUMNS: [&str; 11] = [
    "sequence",
    "time",
    "type",
    "source",
    "aggregate_id",
    "id",
    "correlation_id",
    "causation_id",
    "actor",
    "subject",
    "data",
];

/// One event as a CSV record, in the order of `CSV_COLUMNS`.
fn csv_record(decoder: &Decoder, row: &Row) -> anyhow::Result<[String; 11]> {
    Ok([
        row.sequence.to_string(),
        rfc3339(row.time),
        row.event_type.clone(),
        row.source.clone(),
        row.aggregate_id.clone(),
        row.id.clone(),
        row.correlation_id.clone(),
        row.causation_id.clone(),
        row.actor.clone(),
        row.subject.clone(),
        decoder.data_text(row)?,
    ])
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Where the formatted batches go: a text file or the terminal (JSON lines, CSV), or a
/// Parquet file.
enum Sink {
    Text(Box<dyn Write + Send>),
    Parquet(Box<ParquetSink>),
}

impl Sink {
    /// JSON lines or CSV to any writer; a CSV file starts with its header row when `header`.
    fn text(format: Format, mut out: Box<dyn Write + Send>, header: bool) -> anyhow::Result<Self> {
        if format == Format::Csv && header {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(CSV_COLUMNS)?;
            out.write_all(&w.into_inner().map_err(|e| anyhow!("{}", e.error()))?)?;
        }
        Ok(Sink::Text(out))
    }

    fn write(&mut self, batch: Formatted) -> anyhow::Result<()> {
        match (self, batch.body) {
            (Sink::Text(out), Body::Text(bytes)) => out.write_all(&bytes)?,
            (Sink::Parquet(parquet), Body::Columns(columns)) => parquet.write(*columns)?,
            _ => bail!("a batch formatted for another kind of file"),
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        match self {
            Sink::Text(out) => out.flush()?,
            Sink::Parquet(parquet) => parquet.flush()?,
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::Text(mut out) => out.flush()?,
            Sink::Parquet(parquet) => parquet.finish()?,
        }
        Ok(())
    }
}

const PARQUET_SCHEMA: &str = "
message rentops_event {
  REQUIRED INT64 sequence;
  REQUIRED INT64 time (TIMESTAMP(MICROS,true));
  REQUIRED BYTE_ARRAY type (UTF8);
  REQUIRED BYTE_ARRAY source (UTF8);
  REQUIRED BYTE_ARRAY aggregate_id (UTF8);
  REQUIRED BYTE_ARRAY id (UTF8);
  REQUIRED BYTE_ARRAY correlation_id (UTF8);
  REQUIRED BYTE_ARRAY causation_id (UTF8);
  REQUIRED BYTE_ARRAY actor (UTF8);
  REQUIRED BYTE_ARRAY subject (UTF8);
  REQUIRED BYTE_ARRAY data (JSON);
}";

/// Rows of the Parquet schema, column by column.
#[derive(Default)]
struct Columns {
    sequence: Vec<i64>,
    time: Vec<i64>,
    /// type, source, aggregate_id, id, correlation_id, causation_id, actor, subject, data.
    text: [Vec<ByteArray>; 9],
}

impl Columns {
    /// A row, with its `data` column as `Decoder::data_text` wrote it.
    fn push(&mut self, row: &Row, data: String) -> anyhow::Result<()> {
        let micros = row.time.unix_timestamp_nanos() / 1_000;
        self.sequence.push(i64::try_from(row.sequence)?);
        self.time.push(i64::try_from(micros)?);
        let texts = [
            row.event_type.as_str(),
            &row.source,
            &row.aggregate_id,
            &row.id,
            &row.correlation_id,
            &row.causation_id,
            &row.actor,
            &row.subject,
        ];
        for (column, value) in self.text.iter_mut().zip(texts) {
            column.push(ByteArray::from(value));
        }
        self.text[8].push(ByteArray::from(data.into_bytes()));
        Ok(())
    }

    fn append(&mut self, mut other: Columns) {
        self.sequence.append(&mut other.sequence);
        self.time.append(&mut other.time);
        for (column, more) in self.text.iter_mut().zip(&mut other.text) {
            column.append(more);
        }
    }

    fn clear(&mut self) {
        self.sequence.clear();
        self.time.clear();
        self.text.iter_mut().for_each(Vec::clear);
    }
}

/// Parquet, a row group per `CHUNK` events or so (snappy-compressed columns).
struct ParquetSink {
    writer: SerializedFileWriter<File>,
    rows: Columns,
}

impl ParquetSink {
    fn create(path: &Path) -> anyhow::Result<Self> {
        let schema = Arc::new(parquet::schema::parser::parse_message_type(PARQUET_SCHEMA)?);
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(parquet::basic::Compression::SNAPPY)
                .set_created_by(format!("rentops events export {}", env!("CARGO_PKG_VERSION")))
                .build(),
        );
        let file = File::create_new(path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self {
            writer: SerializedFileWriter::new(file, schema, props)?,
            rows: Columns::default(),
        })
    }

    fn write(&mut self, rows: Columns) -> anyhow::Result<()> {
        self.rows.append(rows);
        if self.rows.sequence.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered rows as one row group.
    fn flush(&mut self) -> anyhow::Result<()> {
        if self.rows.sequence.is_empty() {
            return Ok(());
        }
        let mut group = self.writer.next_row_group()?;
        for ints in [&self.rows.sequence, &self.rows.time] {
            let mut column = group
                .next_column()?
                .ok_or_else(|| anyhow!("parquet schema: a column is missing"))?;
            column.typed::<Int64Type>().write_batch(ints, None, None)?;
            column.close()?;
        }
        for texts in &self.rows.text {
            let mut column = group
                .next_column()?
                .ok_or_else(|| anyhow!("parquet schema: a column is missing"))?;
            column.typed::<ByteArrayType>().write_batch(texts, None, None)?;
            column.close()?;
        }
        group.close()?;
        self.rows.clear();
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        self.flush()?;
        self.writer.close()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(aggregate: Option<&str>, id: Option<&str>, types: &[&str]) -> Filter {
        Filter {
            service: "order".into(),
            aggregate: aggregate.map(str::to_owned),
            aggregate_id: id.map(str::to_owned),
            types: types.iter().map(|t| (*t).to_owned()).collect(),
            from_sequence: None,
            since: None,
            nats_url: String::new(),
            nats_user: None,
            nats_password_file: None,
        }
    }

    #[test]
    fn subjects_narrow_by_aggregate_id_and_type() {
        assert_eq!(filter(None, None, &[]).subjects(), ["rentops.order.>"]);
        assert_eq!(filter(Some("order"), None, &[]).subjects(), ["rentops.order.order.*.*"]);
        assert_eq!(
            filter(Some("order"), Some("O1"), &["OrderPlaced", "OrderConfirmed"]).subjects(),
            [
                "rentops.order.order.O1.OrderPlaced",
                "rentops.order.order.O1.OrderConfirmed"
            ]
        );
        assert_eq!(
            filter(None, None, &["OrderPlaced"]).subjects(),
            ["rentops.order.*.*.OrderPlaced"]
        );
    }

    #[test]
    fn tokens_with_wildcards_or_dots_are_refused() {
        assert!(parse_token("a.b").is_err());
        assert!(parse_token("*").is_err());
        assert!(parse_token(">").is_err());
        assert!(parse_token("").is_err());
        assert!(parse_token("OrderPlaced").is_ok());
        assert!(parse_service("ledger").is_err());
        assert_eq!(parse_service("Order").as_deref(), Ok("order"));
    }

    use prost::Message as _;
    use prost_reflect::{Kind, MapKey, MessageDescriptor, Value};

    fn recorded(event_type: &str, body: Vec<u8>) -> RecordedEvent {
        RecordedEvent {
            sequence: 7,
            subject: "rentops.order.order.O1.OrderPlaced".into(),
            name: "OrderPlaced".into(),
            meta: rentops_eventstore::EventMeta {
                event_id: uuid::Uuid::now_v7(),
                event_type: event_type.into(),
                source: "order".into(),
                aggregate_id: "O1".into(),
                time: OffsetDateTime::UNIX_EPOCH,
                correlation_id: "c".into(),
                causation_id: "k".into(),
                actor: "a".into(),
                request_id: "r".into(),
            },
            fingerprint: None,
            trace: None,
            payload: body.into(),
        }
    }

    /// A value of `kind` unlike its default; `n` varies it.
    fn value_of(kind: &Kind, n: u32, depth: usize) -> Value {
        let i = i32::try_from(n).unwrap_or(i32::MAX);
        match kind {
            Kind::Double => Value::F64(f64::from(n) + 0.25),
            Kind::Float => Value::F32(n as f32 + 0.5),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(-1 - i),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(-9_007_199_254_740_993 - i64::from(n)),
            Kind::Uint32 | Kind::Fixed32 => Value::U32(4_000_000_000 - n),
            Kind::Uint64 | Kind::Fixed64 => Value::U64(u64::MAX - u64::from(n)),
            Kind::Bool => Value::Bool(true),
            Kind::String => Value::String(format!("值 \"{n}\"\\\n沪A·D0000{n}")),
            Kind::Bytes => Value::Bytes(bytes::Bytes::from(vec![0, 255, n as u8])),
            Kind::Enum(e) => Value::EnumNumber(e.values().last().map_or(0, |v| v.number())),
            Kind::Message(m) if m.full_name() == "google.protobuf.Timestamp" => {
                let mut t = DynamicMessage::new(m.clone());
                t.set_field_by_name("seconds", Value::I64(1_796_000_000 + i64::from(n)));
                let nanos = [0, 250_000_000, 123_456_000, 123_456_789][n as usize % 4];
                t.set_field_by_name("nanos", Value::I32(nanos));
                Value::Message(t)
            }
            Kind::Message(m) => Value::Message(filled(m, n + 1, depth + 1)),
        }
    }

    /// A message with every field set (the first member of each oneof, or the `n`th), lists of
    /// two, maps of one entry; nested messages to a depth of four.
    fn filled(desc: &MessageDescriptor, n: u32, depth: usize) -> DynamicMessage {
        let mut message = DynamicMessage::new(desc.clone());
        if depth > 4 {
            return message;
        }
        for field in desc.fields() {
            if let Some(oneof) = field.containing_oneof() {
                let members: Vec<_> = oneof.fields().map(|f| f.number()).collect();
                if members[n as usize % members.len()] != field.number() {
                    continue;
                }
            }
            let value = if field.is_map() {
                let Kind::Message(entry) = field.kind() else { continue };
                let (key, value) = (entry.map_entry_key_field(), entry.map_entry_value_field());
                let key = match key.kind() {
                    Kind::String => MapKey::String(format!("k{n}")),
                    Kind::Bool => MapKey::Bool(true),
                    Kind::Uint32 | Kind::Fixed32 => MapKey::U32(n + 1),
                    Kind::Uint64 | Kind::Fixed64 => MapKey::U64(u64::from(n) + 1),
                    Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(-1 - i64::from(n)),
                    _ => MapKey::I32(-1),
                };
                Value::Map([(key, value_of(&value.kind(), n, depth))].into_iter().collect())
            } else if field.is_list() {
                Value::List(vec![
                    value_of(&field.kind(), n, depth),
                    value_of(&field.kind(), n + 1, depth),
                ])
            } else {
                value_of(&field.kind(), n, depth)
            };
            message.set_field(&field, value);
        }
        message
    }

    fn data_json(decoder: &Decoder, data: &Data) -> serde_json::Value {
        serde_json::to_value(DataJson(data, &decoder.options)).unwrap()
    }

    /// The messages of every events file: the types an event can have.
    fn event_types(decoder: &Decoder) -> Vec<MessageDescriptor> {
        decoder
            .pool
            .files()
            .filter(|f| f.name().ends_with("/events.proto"))
            .flat_map(|f| f.messages().collect::<Vec<_>>())
            .collect()
    }

    #[test]
    fn every_event_type_is_decoded_typed_and_reads_as_reflection_writes_it() {
        let decoder = Decoder::new().unwrap();
        let types = event_types(&decoder);
        assert!(types.len() > 80, "the events files hold every event: {}", types.len());
        for desc in &types {
            for n in 0..4 {
                let reflected = filled(desc, n, 0);
                let body = reflected.encode_to_vec();
                let row = decoder.row(recorded(desc.full_name(), body));
                assert!(
                    matches!(row.data, Data::Typed(_)),
                    "{} is decoded typed",
                    desc.full_name()
                );
                assert_eq!(
                    data_json(&decoder, &row.data),
                    data_json(&decoder, &Data::Reflected(reflected)),
                    "{} ({n}) as JSON",
                    desc.full_name()
                );
            }
            // And with nothing set: every field at its default is left out, by both.
            let row = decoder.row(recorded(desc.full_name(), Vec::new()));
            let empty = DynamicMessage::new(desc.clone());
            assert_eq!(
                data_json(&decoder, &row.data),
                data_json(&decoder, &Data::Reflected(empty))
            );
        }
    }

    #[test]
    fn an_enum_value_newer_than_this_build_is_written_by_reflection_as_its_number() {
        let decoder = Decoder::new().unwrap();
        let placed = crate::typed::Event::decode("rentops.order.v1.OrderPlaced", &[])
            .unwrap()
            .unwrap();
        let crate::typed::Event::OrderOrderPlaced(mut placed) = placed else {
            panic!("OrderPlaced decodes as itself")
        };
        placed.channel = 99;
        placed.channel_order_ref = "APP-1".into();
        let mut row = decoder.row(recorded("rentops.order.v1.OrderPlaced", placed.encode_to_vec()));
        assert!(matches!(row.data, Data::Typed(_)));
        let mut out = b"an earlier line\n".to_vec();
        json_line(&decoder, &mut row, &mut out).unwrap();
        assert!(matches!(row.data, Data::Reflected(_)));
        let text = String::from_utf8(out).unwrap();
        let (earlier, line) = text.split_once('\n').unwrap();
        assert_eq!(earlier, "an earlier line", "the failed attempt left nothing behind");
        let line: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(line["data"]["channel"], 99);
        assert_eq!(line["data"]["channel_order_ref"], "APP-1");
        assert_eq!(line["sequence"], 7);
    }

    #[test]
    fn a_type_unknown_to_this_build_is_kept_in_hex() {
        let decoder = Decoder::new().unwrap();
        let mut row = decoder.row(recorded("rentops.order.v2.OrderPlaced", vec![0x0a, 0x01, 0x41]));
        assert!(matches!(&row.data, Data::Undecoded(hex) if hex == "0a0141"));
        let mut out = Vec::new();
        json_line(&decoder, &mut row, &mut out).unwrap();
        let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(line["data"], serde_json::Value::Null);
        assert_eq!(line["undecoded"], "0a0141");
    }
}
