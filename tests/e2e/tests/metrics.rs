//! The dashboard and the alerts against what the services really export.
//!
//! Each of the four services runs as a process of its own (this test binary started again in
//! the service's role, through the same `service_main` as its binary), so each has its own
//! Prometheus recorder and its own `/metrics` endpoint, as in production; the order service runs
//! as two replicas on one database. The test drives real work through them on one nats-server —
//! a city, a car and an order that the plan assigns, a conflicting decision between the two
//! order replicas, a pickup, a traffic violation matched to the renter that the dunning ladder
//! takes to the charge, a notice the gateway cannot deliver at first (so JetStream delivers it
//! again), a complaint whose SLA clocks go at risk and breach, a scan pass that fails while its
//! table is away — then scrapes every `/metrics` over HTTP and checks that:
//!
//! - every metric the dashboard (`deploy/k8s/base/monitoring/rentops-dashboard.json`: panels and
//!   template variables) and the alert rules (`rentops.rules.yaml`) name is exported, under
//!   exactly that name (a histogram's `_bucket`, `_sum` and `_count` series included, so a
//!   histogram exported as a summary fails too), and that the metrics every service must have
//!   are on each service's own endpoint;
//! - every expression parses as PromQL, and the rule file has the structure Prometheus loads
//!   (groups with unique names, alerts with a valid `for`, a severity, a summary, a description
//!   and a runbook, templates naming only labels their expression can carry).
//!
//! Renaming a metric in the code, or naming one in the dashboard or the alerts that no service
//! exports, fails this test.
//!
//! No libtest harness (`harness = false`): the binary is both the test and, when
//! `RENTOPS_METRICS_TEST_SERVICE` is set, the service it was started as.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use promql_parser::parser::Expr;
use rentops_e2e::{cny, rid, station, ts};
use rentops_proto::admin::ProjectionStatusRequest;
use rentops_proto::admin::projection_admin_client::ProjectionAdminClient;
use rentops_proto::common::{Consistency, VehicleModel};
use rentops_proto::complaint as cpb;
use rentops_proto::complaint::complaint_service_client::ComplaintServiceClient;
use rentops_proto::fleet as fpb;
use rentops_proto::fleet::fleet_service_client::FleetServiceClient;
use rentops_proto::order as opb;
use rentops_proto::order::order_service_client::OrderServiceClient;
use rentops_proto::receivables as rpb;
use rentops_proto::receivables::receivables_service_client::ReceivablesServiceClient;
use time::OffsetDateTime;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
use tonic::transport::Channel;

const TEST: &str = "every_metric_the_dashboard_and_the_alerts_name_is_exported";
/// Set in a child: the service it runs.
const ROLE: &str = "RENTOPS_METRICS_TEST_SERVICE";
/// How long one step may take to show before the test fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// Metrics Prometheus makes itself for every target: the rules may name them, no service
/// exports them.
const FROM_PROMETHEUS: &[&str] = &["up", "scrape_duration_seconds", "scrape_samples_scraped"];

/// What every service exports once it has served a command and applied its events: the
/// dashboard's service-wide rows rest on them.
const EVERY_SERVICE: &[&str] = &[
    "rentops_grpc_requests_total",
    "rentops_grpc_request_duration_seconds_bucket",
    "rentops_append_seconds_bucket",
    "rentops_append_seconds_count",
    "rentops_projection_checkpoint",
    "rentops_projection_pending_events",
    "rentops_projection_lag_seconds_bucket",
    "rentops_projection_apply_seconds_bucket",
    "rentops_projection_batch_events_sum",
    "rentops_scan_pass_seconds_bucket",
];

fn main() -> ExitCode {
    if let Ok(service) = std::env::var(ROLE) {
        return serve(&service);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("{TEST}: test");
        return ExitCode::SUCCESS;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if args.iter().any(|a| a == "--ignored")
        || (!filters.is_empty() && !filters.iter().any(|f| TEST.contains(f.as_str())))
    {
        println!("running 0 tests");
        return ExitCode::SUCCESS;
    }
    println!("running 1 test");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    match runtime.block_on(run()) {
        Ok(()) => {
            println!("test {TEST} ... ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("test {TEST} ... FAILED\n{e:?}");
            ExitCode::FAILURE
        }
    }
}

/// The child: one service, exactly as its binary runs it (configuration from the environment,
/// the metrics endpoint, SIGTERM handling).
fn serve(service: &str) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let result = runtime.block_on(async {
        use rentops_runtime::service_main;
        match service {
            "order" => {
                service_main::<rentops_order::app::OrderConfig, _, _, _>("rentops-order", rentops_order::app::start)
                    .await
            }
            "fleet" => {
                service_main::<rentops_fleet::app::FleetConfig, _, _, _>("rentops-fleet", rentops_fleet::app::start)
                    .await
            }
            "receivables" => {
                service_main::<rentops_receivables::app::ReceivablesConfig, _, _, _>(
                    "rentops-receivables",
                    rentops_receivables::app::start,
                )
                .await
            }
            "complaint" => {
                // Its SLA clocks run on a clock 20 times faster than real time, so the test's
                // one-minute targets are at risk and breached within seconds: nothing waits a
                // real minute.
                service_main::<rentops_complaint::app::ComplaintConfig, _, _, _>(
                    "rentops-complaint",
                    |config, listener, _system, shutdown| {
                        let clock: Arc<dyn rentops_runtime::Clock> = Arc::new(FastClock::new(20));
                        rentops_complaint::app::start(config, listener, clock, shutdown)
                    },
                )
                .await
            }
            other => {
                eprintln!("{ROLE}={other}: no such service");
                std::process::exit(2);
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{service}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Real time, `speed` times faster, from the moment it is made.
struct FastClock {
    started: Instant,
    at: OffsetDateTime,
    speed: u32,
}

impl FastClock {
    fn new(speed: u32) -> Self {
        Self {
            started: Instant::now(),
            at: OffsetDateTime::now_utc(),
            speed,
        }
    }
}

impl rentops_runtime::Clock for FastClock {
    fn now(&self) -> OffsetDateTime {
        let passed = self.started.elapsed().saturating_mul(self.speed);
        self.at + time::Duration::try_from(passed).unwrap_or(time::Duration::MAX)
    }
}

/// A service process started by the test; killed when dropped.
struct Child {
    /// This process (`order-a`).
    name: String,
    /// The service it runs (`order`).
    service: String,
    grpc: String,
    metrics: std::net::SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    _process: tokio::process::Child,
}

/// A free local port (bound, then let go: the child binds it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Child {
    async fn start(name: &str, service: &str, nats: &str, db: &str, env: &[(&str, String)]) -> anyhow::Result<Child> {
        let metrics: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
        let mut command = tokio::process::Command::new(std::env::current_exe()?);
        command
            .env(ROLE, service)
            .env("RENTOPS_NATS_URL", nats)
            .env("RENTOPS_DATABASE_URL", db)
            .env("RENTOPS_GRPC_ADDR", "127.0.0.1:0")
            .env("RENTOPS_METRICS_ADDR", metrics.to_string())
            .env(
                "RENTOPS_INSTANCE_ID",
                format!("{name}-{}", uuid::Uuid::new_v4().simple()),
            )
            .env("RENTOPS_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut process = command.spawn().with_context(|| format!("starting {name}"))?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<String>();
        let stdout = process.stdout.take().expect("piped stdout");
        let stderr = process.stderr.take().expect("piped stderr");
        tokio::spawn(collect(stdout, log.clone(), Some(ready_tx)));
        tokio::spawn(collect(stderr, log.clone(), None));
        let ready = format!("rentops-{service} ready");
        // Its "ready" line, unless it exits first.
        let addr = tokio::time::timeout(PATIENCE, async {
            tokio::select! {
                addr = ready_rx => addr.ok(),
                _ = process.wait() => None,
            }
        })
        .await;
        let Ok(Some(addr)) = addr else {
            bail!(
                "{name} did not say {ready:?}; its output:\n{}",
                log.lock().unwrap().join("\n")
            );
        };
        Ok(Child {
            name: name.to_owned(),
            service: service.to_owned(),
            grpc: format!("http://{addr}"),
            metrics,
            log,
            _process: process,
        })
    }

    async fn channel(&self) -> anyhow::Result<Channel> {
        Ok(Channel::from_shared(self.grpc.clone())?.connect().await?)
    }

    /// `GET /metrics`, parsed.
    async fn scrape(&self) -> anyhow::Result<Scrape> {
        let mut stream = tokio::net::TcpStream::connect(self.metrics).await?;
        stream
            .write_all(format!("GET /metrics HTTP/1.0\r\nHost: {}\r\n\r\n", self.metrics).as_bytes())
            .await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        let (head, body) = response
            .split_once("\r\n\r\n")
            .ok_or_else(|| anyhow!("{}: not an HTTP response: {response:?}", self.name))?;
        ensure!(
            head.lines()
                .next()
                .is_some_and(|l| l.split_whitespace().nth(1) == Some("200")),
            "{}: /metrics answered {head}",
            self.name
        );
        Scrape::parse(body).with_context(|| format!("{}'s /metrics", self.name))
    }

    /// Scrapes until `ready` holds.
    async fn scrape_until(&self, what: &str, ready: impl Fn(&Scrape) -> bool) -> anyhow::Result<Scrape> {
        until(&format!("{}: {what}", self.name), || async {
            let scrape = self.scrape().await?;
            Ok(ready(&scrape).then_some(scrape))
        })
        .await
        .with_context(|| format!("{}'s log:\n{}", self.name, self.log_tail()))
    }

    fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap();
        log[log.len().saturating_sub(30)..].join("\n")
    }
}

/// Keeps a child's output; hands over the gRPC address from its "ready" line.
async fn collect(
    out: impl tokio::io::AsyncRead + Unpin,
    log: Arc<Mutex<Vec<String>>>,
    mut ready: Option<tokio::sync::oneshot::Sender<String>>,
) {
    let mut lines = tokio::io::BufReader::new(out).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
            let fields = &v["fields"];
            let said_ready = fields["message"].as_str().is_some_and(|m| m.ends_with(" ready"));
            if let (true, Some(addr)) = (said_ready, fields["addr"].as_str())
                && let Some(tx) = ready.take()
            {
                let _ = tx.send(addr.to_owned());
            }
        }
        log.lock().unwrap().push(line);
    }
}

/// Polls `check` until it gives a value, for at most [`PATIENCE`].
async fn until<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + PATIENCE;
    let mut last = String::new();
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = format!("{e:#}"),
        }
        if Instant::now() > deadline {
            bail!("{what}: not within {PATIENCE:?} (last error: {last})");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One `/metrics` page: each series' samples, and each metric family's type.
#[derive(Debug, Default)]
struct Scrape {
    types: BTreeMap<String, String>,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    /// The Prometheus text format, as metrics-exporter-prometheus writes it.
    fn parse(text: &str) -> anyhow::Result<Scrape> {
        let mut scrape = Scrape::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').ok_or_else(|| anyhow!("bad TYPE line {line:?}"))?;
                scrape.types.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let end = line.find(['{', ' ']).ok_or_else(|| anyhow!("bad sample {line:?}"))?;
            let name = &line[..end];
            let mut labels = BTreeMap::new();
            let mut rest = &line[end..];
            if let Some(inner) = rest.strip_prefix('{') {
                let mut chars = inner.char_indices().peekable();
                let mut close = None;
                while let Some((i, c)) = chars.next() {
                    if c == '}' {
                        close = Some(i);
                        break;
                    }
                    if c == ',' {
                        continue;
                    }
                    let key_start = i;
                    let mut key_end = i;
                    for (j, c) in chars.by_ref() {
                        if c == '=' {
                            key_end = j;
                            break;
                        }
                    }
                    ensure!(chars.next().map(|(_, c)| c) == Some('"'), "bad label in {line:?}");
                    let mut value = String::new();
                    while let Some((_, c)) = chars.next() {
                        match c {
                            '\\' => match chars.next().map(|(_, c)| c) {
                                Some('n') => value.push('\n'),
                                Some(other) => value.push(other),
                                None => bail!("bad escape in {line:?}"),
                            },
                            '"' => break,
                            c => value.push(c),
                        }
                    }
                    labels.insert(inner[key_start..key_end].trim().to_owned(), value);
                }
                let close = close.ok_or_else(|| anyhow!("unclosed labels in {line:?}"))?;
                rest = &inner[close + 1..];
            }
            let value = rest
                .split_whitespace()
                .next()
                .ok_or_else(|| anyhow!("no value in {line:?}"))?;
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().with_context(|| format!("value of {line:?}"))?,
            };
            scrape.samples.push((name.to_owned(), labels, value));
        }
        Ok(scrape)
    }

    fn names(&self) -> BTreeSet<&str> {
        self.samples.iter().map(|(n, _, _)| n.as_str()).collect()
    }

    /// The highest value of series `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .filter(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
            .map(|(_, _, v)| *v)
            .reduce(f64::max)
    }

    fn at_least(&self, name: &str, labels: &[(&str, &str)], min: f64) -> bool {
        self.value(name, labels).is_some_and(|v| v >= min)
    }
}

// --- what the dashboard and the rules name ------------------------------------------------------

fn monitoring_dir() -> PathBuf {
    rentops_testkit::workspace_root().join("deploy/k8s/base/monitoring")
}

/// Grafana's own variables, which PromQL does not know, replaced by what Grafana puts there.
fn grafana_to_promql(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
}

/// Every metric name an expression selects.
fn metric_names(expr: &Expr, out: &mut BTreeSet<String>) -> anyhow::Result<()> {
    fn selector(vs: &promql_parser::parser::VectorSelector, out: &mut BTreeSet<String>) -> anyhow::Result<()> {
        let by_matcher = vs
            .matchers
            .matchers
            .iter()
            .find(|m| m.name == "__name__")
            .map(|m| match m.op {
                promql_parser::label::MatchOp::Equal => Ok(m.value.clone()),
                _ => Err(anyhow!(
                    "selector {vs}: a metric named by regex cannot be checked; name it"
                )),
            })
            .transpose()?;
        match vs.name.clone().or(by_matcher) {
            Some(name) => {
                out.insert(name);
                Ok(())
            }
            None => bail!("selector {vs} names no metric"),
        }
    }
    match expr {
        Expr::Aggregate(a) => {
            metric_names(&a.expr, out)?;
            if let Some(p) = &a.param {
                metric_names(p, out)?;
            }
        }
        Expr::Unary(u) => metric_names(&u.expr, out)?,
        Expr::Binary(b) => {
            metric_names(&b.lhs, out)?;
            metric_names(&b.rhs, out)?;
        }
        Expr::Paren(p) => metric_names(&p.expr, out)?,
        Expr::Subquery(s) => metric_names(&s.expr, out)?,
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
        Expr::VectorSelector(vs) => selector(vs, out)?,
        Expr::MatrixSelector(ms) => selector(&ms.vs, out)?,
        Expr::Call(c) => {
            for arg in &c.args.args {
                metric_names(arg, out)?;
            }
        }
        Expr::Extension(_) => bail!("unexpected extension node"),
    }
    Ok(())
}

/// The labels an expression's result can carry: `None` when any label may pass through (a
/// selector, an aggregation `without`), else exactly these.
fn result_labels(expr: &Expr) -> Option<BTreeSet<String>> {
    use promql_parser::parser::LabelModifier;
    match expr {
        Expr::Aggregate(a) => match a.op.to_string().as_str() {
            "topk" | "bottomk" | "limitk" | "limit_ratio" => result_labels(&a.expr),
            _ => match &a.modifier {
                Some(LabelModifier::Include(labels)) => Some(labels.labels.iter().cloned().collect()),
                Some(LabelModifier::Exclude(_)) => None,
                None => Some(BTreeSet::new()),
            },
        },
        Expr::Unary(u) => result_labels(&u.expr),
        Expr::Paren(p) => result_labels(&p.expr),
        Expr::Subquery(s) => result_labels(&s.expr),
        Expr::Binary(b) => match &*b.lhs {
            Expr::NumberLiteral(_) => result_labels(&b.rhs),
            lhs => result_labels(lhs),
        },
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Some(BTreeSet::new()),
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) | Expr::Extension(_) => None,
        Expr::Call(c) => {
            let vector = c
                .args
                .args
                .iter()
                .find(|a| !matches!(***a, Expr::NumberLiteral(_) | Expr::StringLiteral(_)));
            let mut labels = vector.map_or(Some(BTreeSet::new()), |v| result_labels(v));
            match c.func.name {
                "histogram_quantile" => {
                    if let Some(l) = labels.as_mut() {
                        l.remove("le");
                    }
                }
                "label_replace" | "label_join" => {
                    if let (Some(l), Some(Expr::StringLiteral(dst))) =
                        (labels.as_mut(), c.args.args.get(1).map(|a| &**a))
                    {
                        l.insert(dst.val.clone());
                    }
                }
                _ => {}
            }
            labels
        }
    }
}

fn parse_promql(where_: &str, expr: &str) -> anyhow::Result<Expr> {
    promql_parser::parser::parse(expr).map_err(|e| anyhow!("{where_}: {expr:?} is not PromQL: {e}"))
}

/// The names the dashboard's queries use, each with where it is used.
fn dashboard_metrics(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let dash: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    ensure!(
        dash["uid"].as_str().is_some_and(|u| !u.is_empty()),
        "the dashboard has no uid"
    );
    ensure!(
        dash["title"].as_str().is_some_and(|u| !u.is_empty()),
        "the dashboard has no title"
    );
    let mut found = BTreeMap::new();
    let mut expressions = 0;
    fn panels<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
        for p in v.as_array().into_iter().flatten() {
            out.push(p);
            panels(&p["panels"], out);
        }
    }
    let mut all = Vec::new();
    panels(&dash["panels"], &mut all);
    let mut ids = BTreeSet::new();
    for p in &all {
        let title = p["title"].as_str().unwrap_or("(untitled)");
        let id = p["id"].as_u64().ok_or_else(|| anyhow!("panel {title:?} has no id"))?;
        ensure!(ids.insert(id), "two panels have id {id}");
        if p["type"] == "row" {
            continue;
        }
        let targets = p["targets"].as_array().filter(|t| !t.is_empty());
        let targets = targets.ok_or_else(|| anyhow!("panel {title:?} has no queries"))?;
        for t in targets {
            let expr = t["expr"]
                .as_str()
                .ok_or_else(|| anyhow!("panel {title:?}: a query without expr"))?;
            let where_ = format!("dashboard panel {title:?}");
            let parsed = parse_promql(&where_, &grafana_to_promql(expr))?;
            let mut names = BTreeSet::new();
            metric_names(&parsed, &mut names).with_context(|| where_.clone())?;
            ensure!(!names.is_empty(), "{where_}: {expr:?} names no metric");
            for n in names {
                found.entry(n).or_insert_with(|| where_.clone());
            }
            expressions += 1;
        }
    }
    ensure!(expressions > 0, "the dashboard has no queries");
    // Template variables: label_values(SELECTOR, label), or a PromQL query.
    for v in dash["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] != "query" {
            continue;
        }
        let name = v["name"].as_str().unwrap_or("?");
        let query = v["query"]["query"]
            .as_str()
            .or_else(|| v["query"].as_str())
            .ok_or_else(|| anyhow!("variable {name} has no query"))?;
        let where_ = format!("dashboard variable ${name}");
        let selector = match query
            .trim()
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
        {
            Some(args) => args
                .rsplit_once(',')
                .map(|(s, _label)| s.trim().to_owned())
                .ok_or_else(|| anyhow!("{where_}: label_values without a selector"))?,
            None => query.to_owned(),
        };
        let parsed = parse_promql(&where_, &grafana_to_promql(&selector))?;
        let mut names = BTreeSet::new();
        metric_names(&parsed, &mut names).with_context(|| where_.clone())?;
        for n in names {
            found.entry(n).or_insert_with(|| where_.clone());
        }
    }
    Ok(found)
}

/// A Prometheus duration (`5m`, `1h30m`).
fn prometheus_duration(text: &str) -> bool {
    promql_parser::util::parse_duration(text).is_ok()
}

/// The names the rules use, after checking the file's structure.
fn rule_metrics(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let file: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).with_context(|| format!("{} is not YAML", path.display()))?;
    let top = file.as_mapping().ok_or_else(|| anyhow!("a rule file is a mapping"))?;
    for key in top.keys() {
        ensure!(
            key.as_str() == Some("groups"),
            "unknown top-level key {key:?} in the rule file"
        );
    }
    let groups = file["groups"].as_sequence().filter(|g| !g.is_empty());
    let groups = groups.ok_or_else(|| anyhow!("the rule file has no groups"))?;
    let mut group_names = BTreeSet::new();
    let mut alert_names = BTreeSet::new();
    let mut found = BTreeMap::new();
    let mut alerts = 0;
    for g in groups {
        let group = g["name"].as_str().ok_or_else(|| anyhow!("a group without a name"))?;
        ensure!(group_names.insert(group), "two groups are named {group}");
        for key in g.as_mapping().into_iter().flat_map(|m| m.keys()) {
            let key = key.as_str().unwrap_or("?");
            ensure!(
                ["name", "interval", "rules", "limit", "query_offset", "labels"].contains(&key),
                "group {group}: unknown key {key}"
            );
        }
        if let Some(interval) = g.get("interval") {
            ensure!(
                interval.as_str().is_some_and(prometheus_duration),
                "group {group}: bad interval"
            );
        }
        let rules = g["rules"].as_sequence().filter(|r| !r.is_empty());
        let rules = rules.ok_or_else(|| anyhow!("group {group} has no rules"))?;
        for r in rules {
            for key in r.as_mapping().into_iter().flat_map(|m| m.keys()) {
                let key = key.as_str().unwrap_or("?");
                ensure!(
                    [
                        "alert",
                        "record",
                        "expr",
                        "for",
                        "keep_firing_for",
                        "labels",
                        "annotations"
                    ]
                    .contains(&key),
                    "group {group}: a rule with unknown key {key}"
                );
            }
            let expr = r["expr"]
                .as_str()
                .ok_or_else(|| anyhow!("group {group}: a rule without expr"))?;
            let (kind, name) = match (r["alert"].as_str(), r["record"].as_str()) {
                (Some(a), None) => ("alert", a),
                (None, Some(rec)) => ("record", rec),
                _ => bail!("group {group}: a rule must be either an alert or a record: {r:?}"),
            };
            let where_ = format!("{kind} {name}");
            let parsed = parse_promql(&where_, expr)?;
            let mut names = BTreeSet::new();
            metric_names(&parsed, &mut names).with_context(|| where_.clone())?;
            for n in names {
                found.entry(n).or_insert_with(|| where_.clone());
            }
            if kind == "record" {
                continue;
            }
            alerts += 1;
            ensure!(alert_names.insert(name), "two alerts are named {name}");
            ensure!(
                name.starts_with("Rentops") && name.chars().all(|c| c.is_ascii_alphanumeric()),
                "{where_}: alert names are RentopsCamelCase"
            );
            for key in ["for", "keep_firing_for"] {
                if let Some(d) = r.get(key) {
                    ensure!(
                        d.as_str().is_some_and(prometheus_duration),
                        "{where_}: {key} is not a duration: {d:?}"
                    );
                }
            }
            let severity = r["labels"]["severity"].as_str();
            ensure!(
                severity.is_some_and(|s| ["critical", "warning", "info"].contains(&s)),
                "{where_}: labels.severity must be critical, warning or info"
            );
            let mut annotations = String::new();
            for key in ["summary", "description", "runbook"] {
                let text = r["annotations"][key].as_str().filter(|t| !t.trim().is_empty());
                let text = text.ok_or_else(|| anyhow!("{where_}: no annotations.{key}"))?;
                ensure!(
                    text.matches("{{").count() == text.matches("}}").count(),
                    "{where_}: unbalanced template in {key}"
                );
                annotations.push_str(text);
            }
            // A template may only name a label the expression's result can carry.
            let carried = result_labels(&parsed);
            for part in annotations.split("$labels.").skip(1) {
                let label: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                ensure!(
                    carried.as_ref().is_none_or(|c| c.contains(&label)),
                    "{where_}: the annotations use $labels.{label}, which its result does not carry ({carried:?})"
                );
            }
        }
    }
    ensure!(alerts > 0, "the rule file has no alerts");
    Ok(found)
}

/// The monitoring folder's kustomization provisions both files as labelled ConfigMaps.
fn check_provisioning(dir: &Path) -> anyhow::Result<()> {
    let path = dir.join("kustomization.yaml");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let k: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)?;
    let generators = k["configMapGenerator"].as_sequence().cloned().unwrap_or_default();
    let find = |file: &str| {
        generators.iter().find(|g| {
            g["files"]
                .as_sequence()
                .is_some_and(|f| f.iter().any(|f| f.as_str().is_some_and(|f| f.ends_with(file))))
        })
    };
    let dashboard = find("rentops-dashboard.json").ok_or_else(|| anyhow!("no ConfigMap carries the dashboard"))?;
    ensure!(
        dashboard["options"]["labels"]["grafana_dashboard"].as_str() == Some("1"),
        "the dashboard's ConfigMap lacks the label grafana_dashboard: \"1\" the Grafana sidecar looks for"
    );
    find("rentops.rules.yaml").ok_or_else(|| anyhow!("no ConfigMap carries the rule file"))?;
    let base = std::fs::read_to_string(dir.join("../kustomization.yaml"))?;
    let base: serde_yaml_ng::Value = serde_yaml_ng::from_str(&base)?;
    ensure!(
        base["resources"]
            .as_sequence()
            .is_some_and(|r| r.iter().any(|r| r.as_str() == Some("monitoring"))),
        "deploy/k8s/base/kustomization.yaml does not include monitoring"
    );
    Ok(())
}

// --- the run ------------------------------------------------------------------------------------

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn precise(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: t.nanosecond() as i32,
    }
}

/// Waits until `projection` of the service behind `admin` has applied `sequence`.
async fn applied(admin: &ProjectionAdminClient<Channel>, projection: &str, sequence: u64) -> anyhow::Result<()> {
    until(&format!("{projection} at {sequence}"), || async {
        let status = admin
            .clone()
            .projection_status(ProjectionStatusRequest {
                projection: projection.to_owned(),
            })
            .await?
            .into_inner();
        let at = status.projection.map_or(0, |p| p.projection_sequence);
        Ok((at >= sequence).then_some(()))
    })
    .await
}

fn within(sequence: u64) -> Option<Consistency> {
    Some(Consistency {
        min_sequence: sequence,
        timeout_ms: 30_000,
    })
}

async fn run() -> anyhow::Result<()> {
    let dir = monitoring_dir();
    check_provisioning(&dir)?;
    let mut named = dashboard_metrics(&dir.join("rentops-dashboard.json"))?;
    for (name, used) in rule_metrics(&dir.join("rentops.rules.yaml"))? {
        named.entry(name).or_insert(used);
    }

    rentops_testkit::init_tracing();
    let nats_server = rentops_testkit::NatsServer::start().await?;
    let nats = nats_server.url();
    let data = tempfile::tempdir()?;
    let db = |service: &str| format!("sqlite://{}", data.path().join(format!("{service}.db")).display());
    // The notification gateway's folder does not exist yet: the first notices cannot be written,
    // the gateway asks for them again, and JetStream redelivers them.
    let gateway = data.path().join("gateway");
    let sla = data.path().join("sla.toml");
    std::fs::write(
        &sla,
        "[[policy]]\nname = \"test\"\nfirst_response = \"1m\"\nresolution = \"1m\"\nhours = \"calendar\"\n",
    )?;
    let fleet_env = [("RENTOPS_FLEET_REPLAN_DEBOUNCE_MS", "100".to_owned())];
    let receivables_env = [
        ("RENTOPS_RECEIVABLES_LADDER", "NOTICE:0,CHARGE:0".to_owned()),
        ("RENTOPS_RECEIVABLES_LADDER_SCAN_SECS", "1".to_owned()),
        (
            "RENTOPS_RECEIVABLES_NOTICE_LOG",
            gateway.join("notices.jsonl").display().to_string(),
        ),
    ];
    let complaint_env = [
        ("RENTOPS_COMPLAINT_SCAN_SECS", "1".to_owned()),
        ("RENTOPS_COMPLAINT_SLA_FILE", sla.display().to_string()),
        ("RENTOPS_COMPLAINT_AT_RISK_PERCENT", "50".to_owned()),
    ];
    let (order_db, fleet_db, receivables_db, complaint_db) =
        (db("order"), db("fleet"), db("receivables"), db("complaint"));
    let (order_a, order_b, fleet, receivables, complaint) = tokio::try_join!(
        Child::start("order-a", "order", &nats, &order_db, &[]),
        Child::start("order-b", "order", &nats, &order_db, &[]),
        Child::start("fleet", "fleet", &nats, &fleet_db, &fleet_env),
        Child::start("receivables", "receivables", &nats, &receivables_db, &receivables_env),
        Child::start("complaint", "complaint", &nats, &complaint_db, &complaint_env),
    )?;
    let mut oa = OrderServiceClient::new(order_a.channel().await?);
    let mut ob = OrderServiceClient::new(order_b.channel().await?);
    let mut fc = FleetServiceClient::new(fleet.channel().await?);
    let mut rc = ReceivablesServiceClient::new(receivables.channel().await?);
    let mut cc = ComplaintServiceClient::new(complaint.channel().await?);
    let rx_admin = ProjectionAdminClient::new(receivables.channel().await?);
    let cp_admin = ProjectionAdminClient::new(complaint.channel().await?);

    // Fleet: city SHA, two stations, one car.
    fc.configure_city(fpb::ConfigureCityRequest {
        context: rid(),
        city: "SHA".into(),
        name: "上海".into(),
        ..Default::default()
    })
    .await?;
    for s in ["PVG", "SHA"] {
        fc.add_station(fpb::AddStationRequest {
            context: rid(),
            city: "SHA".into(),
            station_id: s.into(),
            name: s.into(),
            districts: vec![],
        })
        .await?;
    }
    fc.set_travel_times(fpb::SetTravelTimesRequest {
        context: rid(),
        city: "SHA".into(),
        times: vec![fpb::TravelTime {
            from_station: "PVG".into(),
            to_station: "SHA".into(),
            minutes: 50,
        }],
        symmetric: true,
    })
    .await?;
    let registered = fc
        .register_vehicle(fpb::RegisterVehicleRequest {
            context: rid(),
            vehicle_id: "V1".into(),
            vin: "LNBSCB3F5KW000001".into(),
            plate: "沪AD00001".into(),
            model: VehicleModel::Es6 as i32,
            city: "SHA".into(),
            home_station: "PVG".into(),
            registered_at: None,
        })
        .await?
        .into_inner();

    // Order: placed through one replica; a first call (no answer) recorded through the other;
    // the second call (reached) through the first, whose cached order is now behind the log: its
    // append conflicts, and the call is decided again on the fresh order.
    let t0 = now();
    let placed = oa
        .place_order(opb::PlaceOrderRequest {
            context: rid(),
            channel: opb::Channel::App as i32,
            channel_order_ref: "APP-METRICS-1".into(),
            customer: Some(opb::Customer {
                customer_id: "C-METRICS-1".into(),
                name: "王芳".into(),
                phone: "+86 138 0000 0000".into(),
            }),
            city: "SHA".into(),
            pickup_location: station("PVG"),
            pickup_at: Some(ts(t0 + time::Duration::hours(2))),
            return_location: station("SHA"),
            return_at: Some(ts(t0 + time::Duration::hours(26))),
            requested_model: VehicleModel::Es6 as i32,
            price: cny(120_000),
            rental_deposit: cny(500_000),
            violation_deposit: cny(200_000),
            ..Default::default()
        })
        .await?
        .into_inner();
    let order_id = placed.order_id.clone();
    ob.record_contact_attempt(opb::RecordContactAttemptRequest {
        context: rid(),
        order_id: order_id.clone(),
        outcome: opb::ContactOutcome::NoAnswer as i32,
        ..Default::default()
    })
    .await?;
    oa.record_contact_attempt(opb::RecordContactAttemptRequest {
        context: rid(),
        order_id: order_id.clone(),
        outcome: opb::ContactOutcome::Reached as i32,
        ..Default::default()
    })
    .await
    .context("the second call, decided again after the conflict")?;
    let confirmed = oa
        .confirm_order(opb::ConfirmOrderRequest {
            context: rid(),
            order_id: order_id.clone(),
            notes: String::new(),
        })
        .await?
        .into_inner();

    // Complaint: a case about the order, opened now so its one-minute clocks run while the rest
    // goes on (at risk at half the target, breached at the target: 1.5 and 3 s of real time on
    // the complaint service's fast clock).
    applied(&cp_admin, "complaint-orders", confirmed.sequence).await?;
    let case = cc
        .open_case(cpb::OpenCaseRequest {
            context: rid(),
            channel: "APP".into(),
            customer_id: "C-METRICS-1".into(),
            order_id: order_id.clone(),
            category: "service".into(),
            sub_category: "no_callback".into(),
            text: "说好回电话，一直没有人联系我".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(!case.case_id.is_empty(), "no case id");

    // The plan gives the order V1; the renter picks it up; a camera catches the car right after.
    until("V1 planned for the order", || async {
        let o = oa
            .clone()
            .get_order(opb::GetOrderRequest {
                order_id: order_id.clone(),
                as_of: None,
                consistency: within(confirmed.sequence),
            })
            .await?
            .into_inner()
            .order
            .ok_or_else(|| anyhow!("no order"))?;
        Ok((o.assigned_vehicle_id == "V1").then_some(()))
    })
    .await?;
    let pickup = oa
        .record_pickup(opb::RecordPickupRequest {
            context: rid(),
            order_id: order_id.clone(),
            vehicle_id: "V1".into(),
            plate: "沪AD00001".into(),
            odometer_km: 1000,
            charge_percent: 90,
            ..Default::default()
        })
        .await?
        .into_inner();
    let offence_at = now();
    applied(&rx_admin, "receivables-hires", pickup.sequence).await?;
    applied(&rx_admin, "receivables-fleet", registered.sequence).await?;
    let summary = rc
        .import_violations(futures::stream::iter(vec![rpb::ImportViolationsRequest {
            context: rid(),
            records: vec![rpb::ViolationRecord {
                plate: "沪AD00001".into(),
                offence_at: Some(precise(offence_at)),
                place: "浦东机场南路".into(),
                offence_code: "1352".into(),
                offence_text: "超速".into(),
                fine: cny(20_000),
                points: 3,
                line: 1,
                source: "metrics-test".into(),
                ..Default::default()
            }],
            received_at: None,
        }]))
        .await?
        .into_inner();
    ensure!(summary.matched == 1, "the violation is the renter's: {summary:?}");

    // The ladder takes the notice at once; the gateway cannot write it and asks again until its
    // folder exists.
    receivables
        .scrape_until("the notice redelivered", |s| {
            s.at_least(
                "rentops_consumer_redeliveries_total",
                &[("reactor", "receivables-notice-gateway")],
                1.0,
            )
        })
        .await?;
    std::fs::create_dir_all(&gateway)?;
    receivables
        .scrape_until("the notices sent and the charge taken", |s| {
            s.at_least("rentops_receivables_notices_sent_total", &[], 1.0)
                && s.at_least("rentops_receivables_ladder_steps_total", &[("step", "CHARGE")], 1.0)
                && s.value(
                    "rentops_receivables_ladder_steps_due",
                    &[("city", "SHA"), ("step", "NOTICE")],
                )
                .is_some()
        })
        .await?;
    let sent = std::fs::read_to_string(gateway.join("notices.jsonl"))?;
    ensure!(
        sent.contains("C-METRICS-1"),
        "the gateway wrote the renter's notices: {sent:?}"
    );

    // The fleet plan's figures for SHA.
    fleet
        .scrape_until("the plan's KPIs for SHA", |s| {
            s.value("rentops_fleet_plan_fulfilment_rate", &[("city", "SHA")]) == Some(1.0)
                && s.value("rentops_fleet_plan_at_risk_orders", &[("city", "SHA")]) == Some(0.0)
        })
        .await?;

    // The case's clocks: at risk after 30 s, breached after a minute, of the fast clock.
    complaint
        .scrape_until("the case's clocks breached", |s| {
            s.at_least(
                "rentops_complaint_sla_clocks_breached",
                &[("city", "SHA"), ("clock", "first_response")],
                1.0,
            ) && s
                .value("rentops_complaint_sla_clocks_at_risk", &[("city", "SHA")])
                .is_some()
                && s.at_least(
                    "rentops_complaint_sla_steps_total",
                    &[("step", "first_response:breached")],
                    1.0,
                )
        })
        .await?;

    // A scan pass fails while the cases' table is away, and the scan goes on once it is back.
    {
        use sqlx::Connection as _;
        let mut conn = sqlx::sqlite::SqliteConnection::connect(&complaint_db).await?;
        sqlx::query("ALTER TABLE cp_cases RENAME TO cp_cases_away")
            .execute(&mut conn)
            .await?;
        let failed = complaint
            .scrape_until("a failed SLA pass", |s| {
                s.at_least("rentops_scan_failures_total", &[("scan", "complaint-sla")], 1.0)
            })
            .await;
        sqlx::query("ALTER TABLE cp_cases_away RENAME TO cp_cases")
            .execute(&mut conn)
            .await?;
        failed?;
    }

    // Every service's page, and the order service's two replicas.
    let children = [&order_a, &order_b, &fleet, &receivables, &complaint];
    let mut scrapes = BTreeMap::new();
    for child in children {
        scrapes.insert(child.name.clone(), child.scrape().await?);
    }
    let mut problems = Vec::new();
    // Per service, over its replicas: one of the two order replicas holds the projector's lease.
    let mut per_service: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for child in children {
        per_service
            .entry(child.service.as_str())
            .or_default()
            .extend(scrapes[&child.name].names());
    }
    for (service, names) in &per_service {
        for name in EVERY_SERVICE {
            if !names.contains(name) {
                problems.push(format!("{service} does not export {name}"));
            }
        }
    }
    let exported: BTreeMap<&str, Vec<&str>> = scrapes.iter().fold(BTreeMap::new(), |mut m, (service, s)| {
        for n in s.names() {
            m.entry(n).or_default().push(service.as_str());
        }
        m
    });
    let types: BTreeMap<&str, &str> = scrapes
        .values()
        .flat_map(|s| s.types.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect();
    for (name, used) in &named {
        if FROM_PROMETHEUS.contains(&name.as_str()) {
            continue;
        }
        if !exported.contains_key(name.as_str()) {
            problems.push(format!("{used} names {name}, which no service exports"));
            continue;
        }
        if let Some(family) = name.strip_suffix("_bucket")
            && types.get(family) != Some(&"histogram")
        {
            problems.push(format!(
                "{used} reads {name}, but {family} is a {:?}",
                types.get(family)
            ));
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} problem(s):\n  {}\nexported: {:?}",
            problems.len(),
            problems.join("\n  "),
            exported.keys().collect::<Vec<_>>()
        );
    }
    println!(
        "{} metric names of the dashboard and the alerts checked against {} scrapes",
        named.len(),
        scrapes.len()
    );
    Ok(())
}
