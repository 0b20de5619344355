//! The SQLite and PostgreSQL migrations describe one schema: the same tables, the same columns in each,
//! and the same indexes. (Types differ by dialect and are not compared.)

use std::collections::BTreeSet;

use sqlx::{Connection, Row};

use crate::helpers::fresh_postgres_schema;

type Schema = (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>);

/// The first column of every row `sql` returns, as a set: `names!(&mut conn, "SELECT …")`.
macro_rules! names {
    ($conn:expr, $sql:expr) => {
        sqlx::query($sql).fetch_all($conn).await.unwrap().iter().map(|r| r.get::<String, _>(0)).collect::<BTreeSet<_>>()
    };
}

async fn sqlite_schema() -> Schema {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema.sqlite3");
    let (key, _) = countersign_domain::secrets::MasterKey::generate();
    let store = countersign_store::Store::open_sqlite(&path, key).await.unwrap();
    store.close().await;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display())).await.unwrap();
    // The migrations' own tables (not SQLite's or sqlx's bookkeeping).
    let ours = "m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'";
    (
        names!(&mut conn, sqlx::AssertSqlSafe(format!("SELECT m.name FROM sqlite_master m WHERE {ours}"))),
        names!(
            &mut conn,
            sqlx::AssertSqlSafe(format!(
                "SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE {ours}"
            ))
        ),
        names!(
            &mut conn,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        ),
    )
}

async fn postgres_schema() -> Option<Schema> {
    let url = fresh_postgres_schema().await?;
    let (key, _) = countersign_domain::secrets::MasterKey::generate();
    let store = countersign_store::Store::open_postgres(&url, key).await.unwrap();
    store.close().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let tables = names!(
        &mut conn,
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%'"
    );
    let columns = names!(
        &mut conn,
        "SELECT table_name::text || '.' || column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%'"
    );
    // Indexes the migrations create by name (primary keys and UNIQUE constraints get generated names,
    // which differ by dialect, so only explicit indexes are compared).
    let indexes = names!(
        &mut conn,
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() \
         AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key'"
    );
    Some((tables, columns, indexes))
}

/// Differences that are deliberate, each with its reason.
const DIALECT_ONLY: &[(&str, &str)] =
    &[("events.txid", "PostgreSQL only: the transaction id that makes the event feed commit-safe across nodes")];

#[tokio::test]
async fn sqlite_and_postgres_migrations_make_the_same_schema() {
    let Some(postgres) = postgres_schema().await else {
        return;
    };
    let sqlite = sqlite_schema().await;
    assert!(sqlite.0.contains("signature_requests") && sqlite.0.contains("deliveries"), "{:?}", sqlite.0);
    for (what, lite, pg) in
        [("tables", &sqlite.0, &postgres.0), ("columns", &sqlite.1, &postgres.1), ("indexes", &sqlite.2, &postgres.2)]
    {
        let deliberate = |name: &&String| DIALECT_ONLY.iter().any(|(known, _)| known == name);
        let only_sqlite: Vec<_> = lite.difference(pg).filter(|n| !deliberate(n)).collect();
        let only_postgres: Vec<_> = pg.difference(lite).filter(|n| !deliberate(n)).collect();
        assert!(
            only_sqlite.is_empty() && only_postgres.is_empty(),
            "{what} differ: only in SQLite {only_sqlite:?}, only in PostgreSQL {only_postgres:?}"
        );
    }
}
