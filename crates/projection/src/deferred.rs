//! What a rebuild leaves in the live database: that it is under way, and (from rebuilds of an
//! older version, which replayed in place) secondary indexes set aside.
//!
//! `projection_rebuilds` marks a rebuild under way (see [`crate::shadow`]): every replica can
//! tell from the shared database that a projection is being rebuilt ([`under_way`]), and a crash
//! mid-replay leaves it marked, so whoever runs the projector next resumes the replay. The
//! switch forgets it in the transaction that puts the new view in place.
//!
//! Replaying into tables whose secondary indexes are live costs one random B-tree write per
//! index per row; building each index once at the end, from the finished table, is a sort. That
//! halves a rebuild's time on both backends (ADR 0006), and the shadow build keeps it: the shadow
//! tables get their secondary indexes only at the switch. Rebuilds that replayed in place
//! recorded the indexes they dropped in `projection_deferred_indexes`; a database left so by a
//! crash gets them back when the projector next starts ([`restore`]), and the switch of a new
//! rebuild builds them on the shadow.
//!
//! Unique indexes and primary keys are never set aside: upserts depend on them.

use futures::StreamExt;
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::db::Backend;

pub(crate) async fn create_table(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS projection_deferred_indexes (
            projection TEXT NOT NULL,
            index_name TEXT NOT NULL,
            ddl TEXT NOT NULL,
            PRIMARY KEY (projection, index_name)
        )",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS projection_rebuilds (
            projection TEXT PRIMARY KEY,
            started_at_us BIGINT NOT NULL
        )",
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records, inside the rebuild's transaction, that `projection` is being replayed.
pub(crate) async fn begin(
    tx: &mut Transaction<'static, Any>,
    projection: &str,
    now_us: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO projection_rebuilds (projection, started_at_us) VALUES ($1, $2) \
         ON CONFLICT (projection) DO UPDATE SET started_at_us = excluded.started_at_us",
    )
    .bind(projection)
    .bind(now_us)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// True while a rebuild of `projection`, on whichever replica, has not caught up with its
/// stream: it is marked, or has indexes set aside.
pub async fn under_way(pool: &AnyPool, projection: &str) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM projection_rebuilds WHERE projection = $1) \
         + (SELECT COUNT(*) FROM projection_deferred_indexes WHERE projection = $1)",
    )
    .bind(projection)
    .fetch_one(pool)
    .await?;
    Ok(row.get::<i64, _>(0) > 0)
}

/// True while a blue/green rebuild of `projection` is marked under way.
pub(crate) async fn marked(pool: &AnyPool, projection: &str) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT COUNT(*) FROM projection_rebuilds WHERE projection = $1")
        .bind(projection)
        .fetch_one(pool)
        .await?;
    Ok(row.get::<i64, _>(0) > 0)
}

/// Forgets, inside the switch's transaction, that a rebuild of `projection` is under way, and
/// any indexes recorded as set aside (the switch has built them).
pub(crate) async fn forget(conn: &mut sqlx::AnyConnection, projection: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM projection_rebuilds WHERE projection = $1")
        .bind(projection)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM projection_deferred_indexes WHERE projection = $1")
        .bind(projection)
        .execute(conn)
        .await?;
    Ok(())
}

/// The indexes recorded as set aside for `projection`: (name, the statement that creates it).
pub(crate) async fn recorded(
    conn: &mut sqlx::AnyConnection,
    projection: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT index_name, ddl FROM projection_deferred_indexes WHERE projection = $1 ORDER BY index_name")
        .bind(projection)
        .fetch_all(conn)
        .await
}

/// The non-unique secondary indexes of `table`: (name, the statement that creates it).
pub(crate) async fn secondary_indexes(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    table: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let sql = match backend {
        // Indexes behind PRIMARY KEY / UNIQUE constraints have no SQL of their own.
        Backend::Sqlite => {
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 \
             AND sql IS NOT NULL AND upper(sql) NOT LIKE 'CREATE UNIQUE%' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT c.relname::text, pg_get_indexdef(i.indexrelid) FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE t.relname = $1 AND n.nspname = current_schema() \
             AND NOT i.indisunique AND NOT i.indisprimary ORDER BY c.relname"
        }
    };
    let rows = sqlx::query(sql).bind(table).fetch_all(conn).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Creates the indexes an interrupted in-place rebuild set aside again and forgets them.
/// Returns how many were created.
///
/// On SQLite, which has one writer, in one transaction. On PostgreSQL each index is built and
/// forgotten in a transaction of its own, two at a time on separate connections: builds of
/// different indexes of one table do not block each other (both hold a SHARE lock), and the
/// database then sorts on both cores while the projector waits (a rebuild of the order projection
/// spent a sixth of its time on one core building indexes). A crash part-way leaves only the
/// unbuilt ones recorded.
///
/// Each build runs without PostgreSQL's parallel maintenance workers. On a table of a few tens of
/// megabytes, starting them (a process each, and shared memory to hand the sort over) costs more
/// than they save, and beside a second build they only take turns on the same cores: the seven
/// indexes of a 40,000-order read model took 220–250 ms with them and 170 ms without.
pub(crate) async fn restore(pool: &AnyPool, backend: Backend, projection: &str) -> Result<usize, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT index_name, ddl FROM projection_deferred_indexes WHERE projection = $1 ORDER BY index_name",
    )
    .bind(projection)
    .fetch_all(pool)
    .await?;
    match backend {
        Backend::Sqlite => {
            let mut tx = crate::db::begin_write(pool, backend).await?;
            sqlx::query("PRAGMA threads = 2").execute(&mut *tx).await?;
            for (_, ddl) in &rows {
                sqlx::query(sqlx::AssertSqlSafe(if_not_exists(ddl)))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM projection_deferred_indexes WHERE projection = $1")
                .bind(projection)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Backend::Postgres => {
            build_postgres_indexes(pool, rows.iter().cloned(), Some(projection)).await?;
        }
    }
    Ok(rows.len())
}

/// Builds PostgreSQL indexes (`(name, ddl)`) two at a time, each in a transaction of its own
/// with parallel maintenance workers off (two builds already use both cores), forgetting each
/// recorded one of `projection` as it is built, when given.
pub(crate) async fn build_postgres_indexes(
    pool: &AnyPool,
    indexes: impl IntoIterator<Item = (String, String)>,
    projection: Option<&str>,
) -> Result<(), sqlx::Error> {
    // Owned and boxed: with borrowed futures in the stream, the compiler cannot prove the
    // projector's future `Send`.
    let builds = indexes.into_iter().map(|(name, ddl)| {
        let pool = pool.clone();
        let projection = projection.map(str::to_owned);
        Box::pin(async move {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT set_config('max_parallel_maintenance_workers', '0', true)")
                .execute(&mut *tx)
                .await?;
            sqlx::query(sqlx::AssertSqlSafe(if_not_exists(&ddl)))
                .execute(&mut *tx)
                .await?;
            if let Some(projection) = projection {
                sqlx::query("DELETE FROM projection_deferred_indexes WHERE projection = $1 AND index_name = $2")
                    .bind(projection)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        }) as futures::future::BoxFuture<'static, Result<(), sqlx::Error>>
    });
    let mut builds = futures::stream::iter(builds).buffer_unordered(2);
    while let Some(built) = builds.next().await {
        built?;
    }
    Ok(())
}

/// `CREATE INDEX x …` → `CREATE INDEX IF NOT EXISTS x …`, so that an index a migration has
/// meanwhile created again is not an error.
pub(crate) fn if_not_exists(ddl: &str) -> String {
    const PREFIX: &str = "CREATE INDEX ";
    match ddl.get(..PREFIX.len()) {
        Some(head)
            if head.eq_ignore_ascii_case(PREFIX)
                && !ddl[PREFIX.len()..]
                    .trim_start()
                    .to_ascii_uppercase()
                    .starts_with("IF NOT EXISTS") =>
        {
            format!("CREATE INDEX IF NOT EXISTS {}", &ddl[PREFIX.len()..])
        }
        _ => ddl.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_made_idempotent() {
        assert_eq!(
            if_not_exists("CREATE INDEX orders_by_pickup ON orders (pickup_at_us, order_id)"),
            "CREATE INDEX IF NOT EXISTS orders_by_pickup ON orders (pickup_at_us, order_id)"
        );
        assert_eq!(
            if_not_exists("CREATE INDEX IF NOT EXISTS a ON t (x)"),
            "CREATE INDEX IF NOT EXISTS a ON t (x)"
        );
        assert_eq!(
            if_not_exists("create index a on t using btree (x)"),
            "CREATE INDEX IF NOT EXISTS a on t using btree (x)"
        );
        assert_eq!(crate::db::quote_ident("we\"ird"), "\"we\"\"ird\"");
    }
}
