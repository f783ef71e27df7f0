//! Blue/green rebuilds: the new view is built beside the live one and replaces it in one
//! transaction once it has caught up, so no query ever sees a half-built view (ADR 0014).
//!
//! The shadow holds empty copies of the projection's [`tables`](crate::Projection::tables) and a
//! `projection_checkpoints` table of its own, where the rebuild's checkpoint commits with its
//! rows. The projection's SQL is unchanged and unqualified; where it lands is the connection's
//! doing:
//! - PostgreSQL: a schema `rebuild_<name>` in the same database, first on the shadow pool's
//!   `search_path`, the live schema after it.
//! - SQLite: a file `<database>.rebuild-<name>` beside the live one, with the live database
//!   attached to every shadow connection as `live` (SQLite looks in `main` before attached
//!   databases).
//!
//! Either way a table the shadow does not copy — an outbox such as fleet's `replan_requests` —
//! resolves to the live one, so what a replay asks of reactors reaches them as it did when
//! rebuilds replayed in place.
//!
//! The shadow gets its primary keys and unique indexes (upserts need them) but not its secondary
//! indexes: those are built once, from the finished rows, at the switch (ADR 0006's reason,
//! kept). The switch: PostgreSQL builds the shadow's indexes under their live names, then drops
//! the live tables and moves the shadow's into the live schema (`ALTER TABLE … SET SCHEMA`);
//! SQLite attaches the shadow file and, in one `BEGIN IMMEDIATE` transaction on the live file,
//! sets the live tables' secondary indexes aside, replaces their rows with the shadow's, and
//! builds the indexes again. Both commit the shadow's checkpoint as the live one and forget the
//! rebuild in that same transaction; readers keep the old view until the commit (PostgreSQL's
//! lock, SQLite's WAL snapshot).
//!
//! `projection_rebuilds` says a rebuild is under way; the shadow and its checkpoint survive a
//! crash or a lease change, and whoever runs the projector next resumes the replay from there.

use std::path::{Path, PathBuf};

use sqlx::{Connection, Row};

use crate::ProjectionError;
use crate::db::{Backend, Db, quote_ident};
use crate::deferred;

/// A rebuild's shadow view, open.
pub(crate) struct Shadow {
    pub db: Db,
    /// PostgreSQL: the shadow's schema.
    schema: String,
    /// PostgreSQL: the live tables' schema.
    live_schema: String,
    /// SQLite: the shadow's file.
    file: Option<PathBuf>,
}

fn suffix(projection: &str) -> String {
    projection
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn schema_name(projection: &str) -> String {
    format!("rebuild_{}", suffix(projection))
}

fn shadow_file(live: &Path, projection: &str) -> PathBuf {
    let mut name = live.as_os_str().to_owned();
    name.push(format!(".rebuild-{}", suffix(projection)));
    PathBuf::from(name)
}

/// The shadow file and the WAL files SQLite keeps beside it.
fn files_of(file: &Path) -> [PathBuf; 3] {
    let with = |tail: &str| {
        let mut name = file.as_os_str().to_owned();
        name.push(tail);
        PathBuf::from(name)
    };
    [file.to_owned(), with("-wal"), with("-shm")]
}

fn remove_files(file: &Path) -> Result<(), ProjectionError> {
    for f in files_of(file) {
        match std::fs::remove_file(&f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ProjectionError::ShadowFile {
                    path: f.display().to_string(),
                    source,
                });
            }
        }
    }
    Ok(())
}

async fn live_schema(live: &Db) -> Result<String, sqlx::Error> {
    match live.backend {
        Backend::Sqlite => Ok("main".to_owned()),
        Backend::Postgres => {
            let row = sqlx::query("SELECT current_schema()::text")
                .fetch_one(&live.pool)
                .await?;
            Ok(row.get(0))
        }
    }
}

async fn open_beside(live: &Db, projection: &str) -> Result<Shadow, ProjectionError> {
    let schema = schema_name(projection);
    let live_schema = live_schema(live).await?;
    let file = live.sqlite_file().map(|f| shadow_file(f, projection));
    let db = live.beside(&schema, &live_schema, file.as_deref()).await?;
    Ok(Shadow {
        db,
        schema,
        live_schema,
        file,
    })
}

/// `CREATE [UNIQUE] INDEX name ON schema.table USING …` (PostgreSQL's `pg_get_indexdef`, which
/// always qualifies the table) re-aimed at the same table in another schema.
fn retarget(ddl: &str, qualified: &str, to: &str) -> String {
    let from = format!(" ON {qualified} ");
    match ddl.find(&from) {
        Some(at) => format!("{} ON {to} {}", &ddl[..at], &ddl[at + from.len()..]),
        None => ddl.to_owned(),
    }
}

/// `schema.table` as PostgreSQL spells it in index definitions.
async fn qualified(conn: &mut sqlx::AnyConnection, schema: &str, table: &str) -> Result<String, sqlx::Error> {
    let row = sqlx::query("SELECT quote_ident($1) || '.' || quote_ident($2)")
        .bind(schema)
        .bind(table)
        .fetch_one(conn)
        .await?;
    Ok(row.get(0))
}

/// Starts a rebuild: makes a fresh, empty shadow (discarding any earlier one) and records that
/// a rebuild is under way.
pub(crate) async fn create(
    live: &Db,
    projection: &str,
    tables: &[&str],
    now_us: i64,
) -> Result<Shadow, ProjectionError> {
    match live.backend {
        Backend::Postgres => {
            let schema = schema_name(projection);
            let live_schema = live_schema(live).await?;
            let s = quote_ident(&schema);
            // One transaction: the schema, its tables and the marker appear together or not.
            let mut tx = live.begin_write().await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {s} CASCADE")))
                .execute(&mut *tx)
                .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {s}")))
                .execute(&mut *tx)
                .await?;
            for table in tables {
                let from = qualified(&mut tx, &live_schema, table).await?;
                let to = format!("{s}.{}", quote_ident(table));
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE TABLE {to} (LIKE {from} INCLUDING DEFAULTS INCLUDING CONSTRAINTS \
                     INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STORAGE)"
                )))
                .execute(&mut *tx)
                .await?;
                // Primary keys and unique constraints under their live names.
                let constraints = sqlx::query(
                    "SELECT c.conname::text, pg_get_constraintdef(c.oid) FROM pg_constraint c \
                     JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
                     WHERE t.relname = $1 AND n.nspname = $2 AND c.contype IN ('p', 'u', 'x') ORDER BY c.conname",
                )
                .bind(*table)
                .bind(&live_schema)
                .fetch_all(&mut *tx)
                .await?;
                for c in constraints {
                    let (name, def): (String, String) = (c.get(0), c.get(1));
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "ALTER TABLE {to} ADD CONSTRAINT {} {def}",
                        quote_ident(&name)
                    )))
                    .execute(&mut *tx)
                    .await?;
                }
                // Unique indexes of no constraint: upserts may infer their conflict target from them.
                let unique = sqlx::query(
                    "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i \
                     JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
                     WHERE t.relname = $1 AND n.nspname = $2 AND i.indisunique \
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) \
                     ORDER BY i.indexrelid",
                )
                .bind(*table)
                .bind(&live_schema)
                .fetch_all(&mut *tx)
                .await?;
                for u in unique {
                    let ddl: String = u.get(0);
                    sqlx::query(sqlx::AssertSqlSafe(retarget(&ddl, &from, &to)))
                        .execute(&mut *tx)
                        .await?;
                }
            }
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE TABLE {s}.projection_checkpoints (LIKE {}.projection_checkpoints INCLUDING ALL)",
                quote_ident(&live_schema)
            )))
            .execute(&mut *tx)
            .await?;
            deferred::begin(&mut tx, projection, now_us).await?;
            tx.commit().await?;
            open_beside(live, projection).await
        }
        Backend::Sqlite => {
            if let Some(file) = live.sqlite_file() {
                remove_files(&shadow_file(file, projection))?;
            }
            let shadow = open_beside(live, projection).await?;
            let mut tx = shadow.db.begin_write().await?;
            for table in tables {
                // The live statements as written, so columns, keys and collations are the same.
                let made = sqlx::query(
                    "SELECT sql FROM live.sqlite_master WHERE tbl_name = $1 AND sql IS NOT NULL \
                     AND (type = 'table' OR (type = 'index' AND upper(sql) LIKE 'CREATE UNIQUE%')) \
                     ORDER BY type DESC, name",
                )
                .bind(*table)
                .fetch_all(&mut *tx)
                .await?;
                for m in made {
                    let sql: String = m.get(0);
                    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
                }
            }
            // Made last: a shadow without it is one whose setup did not finish.
            sqlx::query(
                "CREATE TABLE main.projection_checkpoints (
                    name TEXT PRIMARY KEY,
                    sequence BIGINT NOT NULL,
                    updated_at_us BIGINT NOT NULL
                )",
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            let mut tx = live.begin_write().await?;
            deferred::begin(&mut tx, projection, now_us).await?;
            tx.commit().await?;
            Ok(shadow)
        }
    }
}

/// Opens the shadow of a rebuild under way (after a restart or a lease change), or makes it
/// afresh when it is missing or its setup never finished.
pub(crate) async fn resume(
    live: &Db,
    projection: &str,
    tables: &[&str],
    now_us: i64,
) -> Result<Shadow, ProjectionError> {
    let complete = match live.backend {
        Backend::Postgres => {
            let row = sqlx::query("SELECT to_regclass(quote_ident($1) || '.projection_checkpoints') IS NOT NULL")
                .bind(schema_name(projection))
                .fetch_one(&live.pool)
                .await?;
            row.get::<bool, _>(0)
        }
        Backend::Sqlite => match live.sqlite_file() {
            Some(file) if shadow_file(file, projection).exists() => {
                let shadow = open_beside(live, projection).await?;
                let row = sqlx::query(
                    "SELECT COUNT(*) FROM main.sqlite_master WHERE type = 'table' AND name = 'projection_checkpoints'",
                )
                .fetch_one(&shadow.db.pool)
                .await?;
                if row.get::<i64, _>(0) == 1 {
                    return Ok(shadow);
                }
                shadow.db.pool.close().await;
                false
            }
            _ => false,
        },
    };
    if complete {
        open_beside(live, projection).await
    } else {
        tracing::warn!(
            projection,
            "the shadow of a rebuild under way is missing or unfinished; starting it again"
        );
        create(live, projection, tables, now_us).await
    }
}

/// Removes a shadow no rebuild is using (one whose switch committed just before a crash).
pub(crate) async fn discard_stale(live: &Db, projection: &str) -> Result<(), ProjectionError> {
    match live.backend {
        Backend::Postgres => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                quote_ident(&schema_name(projection))
            )))
            .execute(&live.pool)
            .await?;
        }
        Backend::Sqlite => {
            if let Some(file) = live.sqlite_file() {
                remove_files(&shadow_file(file, projection))?;
            }
        }
    }
    Ok(())
}

/// The rebuild's checkpoint as its shadow records it; `None` when there is no shadow. Any
/// replica can read it.
pub(crate) async fn progress(live: &Db, projection: &str) -> Result<Option<u64>, sqlx::Error> {
    let read = |row: Option<sqlx::any::AnyRow>| row.map(|r| r.get::<i64, _>(0).max(0) as u64).unwrap_or(0);
    match live.backend {
        Backend::Postgres => {
            let schema = schema_name(projection);
            let exists = sqlx::query("SELECT to_regclass(quote_ident($1) || '.projection_checkpoints') IS NOT NULL")
                .bind(&schema)
                .fetch_one(&live.pool)
                .await?;
            if !exists.get::<bool, _>(0) {
                return Ok(None);
            }
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT sequence FROM {}.projection_checkpoints WHERE name = $1",
                quote_ident(&schema)
            )))
            .bind(projection)
            .fetch_optional(&live.pool)
            .await;
            match row {
                Ok(row) => Ok(Some(read(row))),
                // Switched (and dropped) between the two statements.
                Err(_) => Ok(None),
            }
        }
        Backend::Sqlite => {
            let Some(file) = live.sqlite_file().map(|f| shadow_file(f, projection)) else {
                return Ok(None);
            };
            if !file.exists() {
                return Ok(None);
            }
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&file)
                .read_only(true)
                .busy_timeout(std::time::Duration::from_secs(2));
            let Ok(mut conn) = sqlx::ConnectOptions::connect(&opts).await else {
                return Ok(None);
            };
            let row = sqlx::query("SELECT sequence FROM projection_checkpoints WHERE name = $1")
                .bind(projection)
                .fetch_optional(&mut conn)
                .await;
            let _ = conn.close().await;
            Ok(row
                .ok()
                .map(|r| r.map(|r| r.get::<i64, _>(0).max(0) as u64).unwrap_or(0)))
        }
    }
}

/// Replaces the live view by the shadow, whose checkpoint becomes the live one, in one
/// transaction; `live_from` is the live checkpoint the caller last saw (compare-and-set, as
/// for a batch). Returns the new checkpoint, or `None` when someone else moved the live
/// checkpoint (nothing switched). The shadow is removed afterwards.
pub(crate) async fn switch(
    live: &Db,
    shadow: Shadow,
    projection: &str,
    tables: &[&str],
    live_from: u64,
    now_us: i64,
) -> Result<Option<u64>, ProjectionError> {
    let reached = crate::checkpoint::read(&shadow.db.pool, projection).await?;
    match live.backend {
        Backend::Postgres => {
            let s = quote_ident(&shadow.schema);
            // The secondary indexes, under their live names (and any an interrupted in-place
            // rebuild of an older version left recorded), built on the finished shadow tables
            // before anything is locked. Two at a time, as `deferred::restore` does.
            let mut conn = live.pool.acquire().await?;
            let mut builds = Vec::new();
            for table in tables {
                let from = qualified(&mut conn, &shadow.live_schema, table).await?;
                let to = format!("{s}.{}", quote_ident(table));
                for (_, ddl) in deferred::secondary_indexes(&mut conn, live.backend, table).await? {
                    builds.push(retarget(&ddl, &from, &to));
                }
                for (_, ddl) in deferred::recorded(&mut conn, projection).await? {
                    if ddl.contains(&format!(" ON {from} ")) {
                        builds.push(retarget(&ddl, &from, &to));
                    }
                }
            }
            drop(conn);
            let builds = builds.into_iter().map(|ddl| (String::new(), ddl));
            deferred::build_postgres_indexes(&shadow.db.pool, builds, None).await?;
            shadow.db.pool.close().await;

            let mut tx = live.begin_write().await?;
            if !crate::checkpoint::advance(&mut tx, projection, live_from, reached, now_us).await? {
                tx.rollback().await?;
                return Ok(None);
            }
            let l = quote_ident(&shadow.live_schema);
            for table in tables {
                let t = quote_ident(table);
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {l}.{t}")))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("ALTER TABLE {s}.{t} SET SCHEMA {l}")))
                    .execute(&mut *tx)
                    .await?;
            }
            deferred::forget(&mut tx, projection).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {s} CASCADE")))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Backend::Sqlite => {
            shadow.db.pool.close().await;
            let Some(file) = shadow.file.clone() else {
                return Err(ProjectionError::ShadowWithoutFile);
            };
            // A connection of its own, closed at the end, so that the attachment never goes
            // back into the pool.
            let mut conn = live.pool.acquire().await?.detach();
            sqlx::query("ATTACH DATABASE $1 AS shadow")
                .bind(file.display().to_string())
                .execute(&mut conn)
                .await?;
            let switched = sqlite_switch(&mut conn, projection, tables, live_from, reached, now_us).await;
            let detached = sqlx::query("DETACH DATABASE shadow").execute(&mut conn).await;
            let _ = conn.close().await;
            if !switched? {
                return Ok(None);
            }
            detached?;
            remove_files(&file)?;
        }
    }
    Ok(Some(reached))
}

async fn sqlite_switch(
    conn: &mut sqlx::AnyConnection,
    projection: &str,
    tables: &[&str],
    live_from: u64,
    reached: u64,
    now_us: i64,
) -> Result<bool, ProjectionError> {
    // IMMEDIATE: the write lock from the start, so that no other writer's commit in between can
    // make this transaction's snapshot stale half-way.
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    if !crate::checkpoint::advance(&mut tx, projection, live_from, reached, now_us).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    let mut indexes = deferred::recorded(&mut tx, projection).await?;
    for table in tables {
        // Dropping and creating the live table again frees its pages at once, where a DELETE
        // would visit every row and keep its primary key index up to date doing so; its
        // explicit indexes (unique ones too) are built again from their DDL after the copy.
        let create: String =
            sqlx::query_scalar("SELECT sql FROM main.sqlite_master WHERE type = 'table' AND name = $1")
                .bind(table.to_string())
                .fetch_one(&mut *tx)
                .await?;
        let explicit: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, sql FROM main.sqlite_master WHERE type = 'index' AND tbl_name = $1 AND sql IS NOT NULL",
        )
        .bind(table.to_string())
        .fetch_all(&mut *tx)
        .await?;
        indexes.extend(explicit);
        let t = quote_ident(table);
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE main.{t}")))
            .execute(&mut *tx)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(create)).execute(&mut *tx).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO main.{t} SELECT * FROM shadow.{t}"
        )))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("PRAGMA threads = 2").execute(&mut *tx).await?;
    for (_, ddl) in &indexes {
        sqlx::query(sqlx::AssertSqlSafe(deferred::if_not_exists(ddl)))
            .execute(&mut *tx)
            .await?;
    }
    deferred::forget(&mut tx, projection).await?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_retargeting() {
        assert_eq!(schema_name("order-orders"), "rebuild_order_orders");
        assert_eq!(
            shadow_file(Path::new("/d/p.db"), "fleet-demand"),
            PathBuf::from("/d/p.db.rebuild-fleet_demand")
        );
        assert_eq!(
            retarget(
                "CREATE INDEX ti ON public.t USING btree (b) WHERE (b > 0)",
                "public.t",
                "\"rebuild_x\".\"t\""
            ),
            "CREATE INDEX ti ON \"rebuild_x\".\"t\" USING btree (b) WHERE (b > 0)"
        );
    }
}
