//! One pool type for both backends (sqlx's `Any` driver), so a projection's SQL and code are
//! written once. Differences are named where they exist: the migration folders (`sqlite/`,
//! `postgres/`) differ only in column types that the two spell differently.
//!
//! `Any` passes SQL through unchanged, so statements use `$1, $2, …` placeholders, which both
//! PostgreSQL and sqlx's SQLite driver understand. Long multi-row statements are the exception:
//! sqlx's SQLite driver asks SQLite for every parameter's name while binding, and SQLite finds a
//! named or numbered parameter (`$7`, `?7`) by a linear scan of the statement's parameter list,
//! so binding a statement with thousands of them is quadratic (measured: 90 µs per event in
//! batches of 500). Anonymous `?` parameters are not in that list. So [`values_rows`] and
//! [`placeholders`] write `?` for SQLite (bound in order) and `$n` for PostgreSQL (sqlx's
//! `QueryBuilder` would write a bare `?` for `Any`, which PostgreSQL refuses).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::any::{AnyArguments, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::query::Query;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Any, AnyConnection, AnyPool, AssertSqlSafe, ConnectOptions, Connection};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database url {0:?}: expected sqlite://PATH or postgres://…")]
    Url(String),
    #[error("cannot open database {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot create the folder of {path}: {source}")]
    Folder {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot lock {path} for schema setup: {source}")]
    SchemaLock {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// A service's projection database.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// Set once a projector runs SQLite's WAL checkpoints for this database: one per database,
    /// however many projectors share it.
    checkpointing: Arc<AtomicBool>,
    /// The SQLite file, for the lock that serialises schema setup between processes (and the
    /// place a rebuild's shadow file goes beside).
    sqlite_file: Option<PathBuf>,
    /// What it was opened with, so that a rebuild can open its shadow on the same server.
    url: String,
}

/// The PostgreSQL advisory lock (per database: its key space is the database's own) under which
/// every replica sets up the schema, one after another.
const SCHEMA_LOCK: i64 = 0x7265_6e74_6f70_7301; // "rentops" + 1

impl Db {
    /// Opens the database, creating a SQLite file (and its folder) when missing. SQLite runs in
    /// WAL mode so queries read while the projector writes.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DbError::Url(url.to_owned()));
        };
        let connect = |source| DbError::Connect {
            url: url.to_owned(),
            source,
        };
        let mut sqlite_file = None;
        let pool = match backend {
            Backend::Sqlite => {
                let opts = SqliteConnectOptions::from_str(url)
                    .map_err(connect)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // With WAL, NORMAL is durable against application crashes; the event log is
                    // the source of truth and a projection can always be rebuilt from it.
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10));
                let path = opts.get_filename().to_owned();
                sqlite_file = Some(path.clone());
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| DbError::Folder {
                        path: path.display().to_string(),
                        source,
                    })?;
                }
                // Create the file (and switch it to WAL) once through the native driver; the
                // `Any` pool below then opens it with the same settings from the URL. Switching
                // to WAL takes the file's exclusive lock, which several replicas opening one file
                // at once would contend for ("database is locked"): the schema lock (see
                // `migrate`) makes them take turns.
                let turn = lock_file(&path).await?;
                let mut conn = opts.connect().await.map_err(connect)?;
                sqlx::query("SELECT 1").execute(&mut conn).await.map_err(connect)?;
                drop(conn);
                drop(turn);
                sqlite_pool(&path, 8, None).await.map_err(connect)?
            }
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(connect)?,
        };
        Ok(Self {
            pool,
            backend,
            checkpointing: Arc::default(),
            sqlite_file,
            url: url.to_owned(),
        })
    }

    /// The SQLite file of this database (`None` on PostgreSQL).
    pub(crate) fn sqlite_file(&self) -> Option<&Path> {
        self.sqlite_file.as_deref()
    }

    /// A database beside this one for a rebuild's shadow view (see [`crate::shadow`]): on
    /// PostgreSQL the same database with `search_path` starting at `schema`, on SQLite the file
    /// `file` with this database attached as `live`. Either way the projection's unqualified SQL
    /// finds the shadow's tables first, and any other table (an outbox) in the live database.
    pub(crate) async fn beside(&self, schema: &str, live_schema: &str, file: Option<&Path>) -> Result<Db, DbError> {
        let connect = |source| DbError::Connect {
            url: self.url.clone(),
            source,
        };
        let pool = match (self.backend, file, self.sqlite_file.as_deref()) {
            (Backend::Sqlite, Some(file), Some(live)) => {
                let opts = SqliteConnectOptions::new()
                    .filename(file)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10));
                let mut conn = opts.connect().await.map_err(connect)?;
                sqlx::query("SELECT 1").execute(&mut conn).await.map_err(connect)?;
                drop(conn);
                sqlite_pool(file, 2, Some(live.to_owned())).await.map_err(connect)?
            }
            (Backend::Sqlite, _, _) => return Err(DbError::Url(self.url.clone())),
            (Backend::Postgres, _, _) => {
                let path = format!("{}, {}", quote_ident(schema), quote_ident(live_schema));
                AnyPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(move |conn, _| {
                        let path = path.clone();
                        Box::pin(async move {
                            sqlx::query(AssertSqlSafe(format!("SET search_path TO {path}")))
                                .execute(&mut *conn)
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(&self.url)
                    .await
                    .map_err(connect)?
            }
        };
        Ok(Db {
            pool,
            backend: self.backend,
            // The live database's projector runs the WAL checkpoints; the shadow's own WAL is
            // checkpointed by SQLite's auto-checkpoint.
            checkpointing: Arc::new(AtomicBool::new(true)),
            sqlite_file: file.map(Path::to_owned),
            url: self.url.clone(),
        })
    }

    /// True for the first caller only: it runs the WAL checkpoints (see `projector`).
    pub(crate) fn claim_checkpointing(&self) -> bool {
        !self.checkpointing.swap(true, Ordering::AcqRel)
    }

    /// Sets up the schema: the migrator that matches the backend, then the tables this crate
    /// keeps itself (checkpoints, set-aside indexes).
    ///
    /// Any number of replicas may do this at once on one database (a Deployment's pods start
    /// together). `CREATE TABLE IF NOT EXISTS` is not safe against itself on PostgreSQL (two
    /// sessions both find no table and one fails on the catalog's unique index), and two
    /// migrators that both find a migration unapplied would both run it. So the whole setup runs
    /// under one lock per database — an advisory lock on PostgreSQL, a file lock beside a SQLite
    /// file — and whoever comes second finds everything made and goes on.
    pub async fn migrate(&self, sqlite: &Migrator, postgres: &Migrator) -> Result<(), DbError> {
        match self.backend {
            Backend::Sqlite => {
                let _lock = match &self.sqlite_file {
                    Some(file) => Some(lock_file(file).await?),
                    None => None,
                };
                let mut conn = self.pool.acquire().await?;
                self.setup(&mut conn, sqlite).await
            }
            Backend::Postgres => {
                // A connection of its own, closed at the end: the session-level lock then ends
                // with it whatever happened in between, and never goes back into the pool held.
                let mut conn = self.pool.acquire().await?.detach();
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(SCHEMA_LOCK)
                    .execute(&mut conn)
                    .await?;
                let done = self.setup(&mut conn, postgres).await;
                let closed = conn.close().await;
                done?;
                closed?;
                Ok(())
            }
        }
    }
}

impl Db {
    /// Begins a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`, on every attached file too), so it waits its turn under the busy
    /// timeout. A deferred transaction that reads before it writes cannot wait: when another
    /// writer commits in between, its snapshot is stale and SQLite fails it at once
    /// (`SQLITE_BUSY_SNAPSHOT`, "database is locked"). On PostgreSQL it is a plain `BEGIN`.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Any>, sqlx::Error> {
        begin_write(&self.pool, self.backend).await
    }
}

/// [`Db::begin_write`] on a pool whose backend is known.
pub(crate) async fn begin_write(
    pool: &AnyPool,
    backend: Backend,
) -> Result<sqlx::Transaction<'static, Any>, sqlx::Error> {
    match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    }
}

impl Db {
    /// The setup itself, with the lock held on `conn`. The migrator runs on a connection of the
    /// pool (sqlx's `Migrator::run` on a borrowed `AnyConnection` makes a future that is not
    /// `Send`); that is still inside the lock, which serialises whole setups, not connections.
    async fn setup(&self, conn: &mut AnyConnection, migrator: &Migrator) -> Result<(), DbError> {
        migrator.run(&self.pool).await?;
        crate::checkpoint::create_table(&mut *conn).await?;
        crate::deferred::create_table(&mut *conn).await?;
        Ok(())
    }
}

/// `"name"`, quoted for SQL (both backends).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The `Any` pool over a SQLite file (already in WAL mode), with `attach` attached as `live`.
async fn sqlite_pool(path: &Path, max: u32, attach: Option<PathBuf>) -> Result<AnyPool, sqlx::Error> {
    let any_url = format!("sqlite://{}?mode=rwc", path.display());
    AnyPoolOptions::new()
        .max_connections(max)
        .after_connect(move |conn, _| {
            let attach = attach.clone();
            Box::pin(async move {
                sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut *conn).await?;
                sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                // The default 2 MB page cache cannot hold a projection of tens of
                // thousands of rows: random-key upserts then read pages back through
                // syscalls on every batch. 64 MB of cache and a memory map keep them in
                // memory; checkpointing the WAL every 64 MB instead of every 4 MB
                // copies each hot page back far less often (rebuild +30 % measured).
                // A running projector checkpoints more often than that, off its own
                // commit path (`projector::checkpoint_wal`); this is the backstop.
                sqlx::query("PRAGMA cache_size = -65536").execute(&mut *conn).await?;
                sqlx::query("PRAGMA mmap_size = 268435456").execute(&mut *conn).await?;
                sqlx::query("PRAGMA wal_autocheckpoint = 16384")
                    .execute(&mut *conn)
                    .await?;
                if let Some(live) = attach {
                    sqlx::query("ATTACH DATABASE $1 AS live")
                        .bind(live.display().to_string())
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            })
        })
        .connect(&any_url)
        .await
}

/// Takes an exclusive lock on `<database file>.schema-lock`, waiting for another process that
/// holds it; the lock is released when the returned file is dropped (or the process dies).
async fn lock_file(db_file: &Path) -> Result<std::fs::File, DbError> {
    let mut name = db_file.as_os_str().to_owned();
    name.push(".schema-lock");
    let path = PathBuf::from(name);
    let folder = |source| DbError::SchemaLock {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(folder)?;
    let locked = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|e| folder(std::io::Error::other(e)))?;
    locked.map_err(folder)
}

impl Backend {
    /// The placeholder for parameter `n` (1-based) in this backend's fastest form; on SQLite an
    /// anonymous `?`, so parameters must be bound in order.
    pub fn param(self, n: usize) -> String {
        match self {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${n}"),
        }
    }
}

/// `($1, $2, $3), ($4, $5, $6)` for `rows` rows of `cols` columns, numbering from `start + 1`
/// (anonymous `?` on SQLite).
pub fn values_rows(backend: Backend, rows: usize, cols: usize, start: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 6);
    let mut n = start;
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push_str(", ");
            }
            n += 1;
            out.push_str(&backend.param(n));
        }
        out.push(')');
    }
    out
}

/// One multi-row statement shape (`INSERT … VALUES (…), (…) …`), its text made once per row
/// count. A batch's statements are mostly full chunks of the same size, and writing thousands of
/// placeholders for each of them anew was a tenth of the projector's CPU in a rebuild.
#[derive(Debug)]
pub struct MultiRowSql {
    backend: Backend,
    head: &'static str,
    cols: usize,
    tail: &'static str,
    made: Mutex<HashMap<usize, Arc<str>>>,
}

impl MultiRowSql {
    /// `head` comes before the rows (`INSERT INTO t (a, b) VALUES `), `tail` after them
    /// (`ON CONFLICT …`); each row has `cols` parameters.
    pub fn new(backend: Backend, head: &'static str, cols: usize, tail: &'static str) -> Self {
        Self {
            backend,
            head,
            cols,
            tail,
            made: Mutex::default(),
        }
    }

    /// The statement for `rows` rows.
    pub fn query(&self, rows: usize) -> Query<'static, Any, AnyArguments> {
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        let sql = made
            .entry(rows)
            .or_insert_with(|| {
                format!(
                    "{}{}{}",
                    self.head,
                    values_rows(self.backend, rows, self.cols, 0),
                    self.tail
                )
                .into()
            })
            .clone();
        sqlx::query(AssertSqlSafe(sql))
    }
}

/// Executes `statements` one after another on `conn`, building each next one while the database
/// executes the one before.
///
/// A statement is sent when its future is first polled, and the database (PostgreSQL's backend
/// process, SQLite's worker thread) then works on it by itself. Awaiting it at once and only then
/// building the next one (decoding events, folding, serialising, binding) made the two take turns:
/// in a rebuild each side sat idle while the other worked. `statements` is consumed lazily, so
/// whatever its iterator does per item runs in those gaps.
pub async fn execute_overlapped<'q, E>(
    conn: &mut AnyConnection,
    mut statements: impl Iterator<Item = Result<Query<'q, Any, AnyArguments>, E>>,
) -> Result<(), E>
where
    E: From<sqlx::Error>,
{
    let mut next = statements.next();
    while let Some(statement) = next {
        let mut running = std::pin::pin!(statement?.execute(&mut *conn));
        // Send it; it comes back ready only if it needed no round trip.
        let sent = futures::poll!(running.as_mut());
        next = statements.next();
        match sent {
            std::task::Poll::Ready(done) => {
                done?;
            }
            std::task::Poll::Pending => {
                running.await?;
            }
        }
    }
    Ok(())
}

/// `$1, $2, …, $n` for an `IN (…)` list, numbering from `start + 1` (anonymous `?` on SQLite).
pub fn placeholders(backend: Backend, n: usize, start: usize) -> String {
    (start + 1..=start + n)
        .map(|i| backend.param(i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A time as projections store it: microseconds since the epoch in an integer column, which sorts
/// and compares alike on SQLite and PostgreSQL. Times the domain admits (validated business
/// dates) always fit; anything beyond saturates rather than wrap.
pub fn micros(t: time::OffsetDateTime) -> i64 {
    rentops_kernel::timestamp::to_unix_micros(t).unwrap_or(if t.unix_timestamp() < 0 { i64::MIN } else { i64::MAX })
}

/// The time a [`micros`] column holds. Only this code writes those columns, so a value out of
/// range means a damaged row; it reads as the epoch, which no business date is.
pub fn from_micros(us: i64) -> time::OffsetDateTime {
    rentops_kernel::timestamp::from_unix_micros(us).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every statement runs, in order; a failing statement stops the rest and its error comes
    /// back.
    async fn overlapped_on(url: &str) -> anyhow::Result<()> {
        let db = Db::connect(url).await?;
        let mut conn = db.pool.acquire().await?;
        sqlx::query("CREATE TABLE overlapped (n BIGINT PRIMARY KEY, v TEXT NOT NULL)")
            .execute(&mut *conn)
            .await?;
        let insert = MultiRowSql::new(db.backend, "INSERT INTO overlapped (n, v) VALUES ", 2, "");
        let statements = (0..5i64).map(|chunk| {
            let mut q = insert.query(3);
            for n in chunk * 3..chunk * 3 + 3 {
                q = q.bind(n).bind(format!("row {n}"));
            }
            Ok::<_, sqlx::Error>(q)
        });
        execute_overlapped(&mut conn, statements).await?;
        let rows: Vec<(i64, String)> = sqlx::query_as("SELECT n, v FROM overlapped ORDER BY n")
            .fetch_all(&mut *conn)
            .await?;
        assert_eq!(rows.len(), 15);
        assert_eq!(rows[14], (14, "row 14".to_owned()));

        // The second statement repeats a key: the third is never run.
        let statements = [20i64, 20, 21]
            .into_iter()
            .map(|n| Ok::<_, sqlx::Error>(insert.query(1).bind(n).bind("again")));
        assert!(execute_overlapped(&mut conn, statements).await.is_err());
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM overlapped WHERE n >= 20")
            .fetch_one(&mut *conn)
            .await?;
        assert_eq!(count, 1);
        Ok(())
    }

    #[tokio::test]
    async fn overlapped_statements_sqlite() -> anyhow::Result<()> {
        let sqlite = rentops_testkit::SqliteDatabase::new()?;
        overlapped_on(&sqlite.url).await
    }

    #[tokio::test]
    async fn overlapped_statements_postgres() -> anyhow::Result<()> {
        let pg = rentops_testkit::PgDatabase::new().await?;
        overlapped_on(&pg.url).await
    }

    #[test]
    fn placeholder_lists() {
        assert_eq!(values_rows(Backend::Postgres, 2, 3, 0), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(values_rows(Backend::Sqlite, 1, 2, 4), "(?, ?)");
        assert_eq!(placeholders(Backend::Postgres, 3, 1), "$2, $3, $4");
        assert_eq!(placeholders(Backend::Sqlite, 2, 0), "?, ?");
    }
}
