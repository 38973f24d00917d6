//! The PostgreSQL schema's numbered migrations, embedded in the binary and applied at start
//! under a session advisory lock, so nodes starting together apply each one once.

use super::connection::Conn;
use crate::store::StoreError;

/// The migrations, in order; the number is the version a database reaches by applying it.
/// Shipped files are never edited, and every migration keeps the previous version's queries
/// working (columns are added with defaults, nothing is renamed or dropped in the same
/// release), so nodes of two versions can share the database during a rolling upgrade.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "initial", include_str!("migrations/0001_initial.sql")),
    (
        2,
        "counts and active indexes",
        include_str!("migrations/0002_counts_and_active_indexes.sql"),
    ),
    (
        3,
        "platform dialects",
        include_str!("migrations/0003_platform_dialects.sql"),
    ),
    (
        4,
        "list indexes",
        include_str!("migrations/0004_list_indexes.sql"),
    ),
    (
        5,
        "call pauses",
        include_str!("migrations/0005_call_pauses.sql"),
    ),
    (
        6,
        "room rules and roles",
        include_str!("migrations/0006_room_rules_and_roles.sql"),
    ),
    (
        7,
        "hold and announcements",
        include_str!("migrations/0007_hold_and_announcements.sql"),
    ),
    (8, "dial-out", include_str!("migrations/0008_dial_out.sql")),
    (9, "usage", include_str!("migrations/0009_usage.sql")),
    (
        10,
        "lock and read",
        include_str!("migrations/0010_lock_and_read.sql"),
    ),
    (
        11,
        "platform calls and retention",
        include_str!("migrations/0011_platform_calls_and_retention.sql"),
    ),
];

/// The advisory lock key of migrations ("confab" in ASCII).
const MIGRATION_LOCK: i64 = 0x636f_6e66_6162;

/// Applies every migration the database has not had yet, each in its own transaction.
pub(super) fn migrate(conn: &Conn) -> Result<(), StoreError> {
    let client = &conn.client;
    conn.block_on(client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]))?;
    let applied = apply(conn);
    // The session lock is also released when the connection closes; unlocking at once lets
    // the next node start without waiting for that.
    let unlocked =
        conn.block_on(client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]));
    applied?;
    unlocked?;
    Ok(())
}

fn apply(conn: &Conn) -> Result<(), StoreError> {
    let client = &conn.client;
    conn.batch_execute(
        "CREATE TABLE IF NOT EXISTS confab_migrations (
             version     INTEGER PRIMARY KEY,
             name        TEXT NOT NULL,
             applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )?;
    let current: i32 = conn
        .block_on(client.query_one(
            "SELECT COALESCE(MAX(version), 0) FROM confab_migrations",
            &[],
        ))?
        .try_get(0)?;
    let newest = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > newest {
        // A newer node migrated this database. Migrations keep older queries working, so this
        // node can run beside it during the upgrade; it must not be left running for good.
        tracing::warn!(
            database_version = current,
            binary_version = newest,
            "store: the database schema is newer than this binary; upgrade this node"
        );
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        conn.batch_execute("BEGIN")?;
        let applied = conn.batch_execute(sql).and_then(|()| {
            conn.block_on(client.execute(
                "INSERT INTO confab_migrations (version, name) VALUES ($1, $2)",
                &[version, name],
            ))
        });
        if let Err(e) = applied {
            let _ = conn.batch_execute("ROLLBACK");
            return Err(e.into());
        }
        conn.batch_execute("COMMIT")?;
        tracing::info!(version, name, "store: applied migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    /// Every file in `migrations/` is listed, in order, numbered as its name says.
    #[test]
    fn every_migration_file_is_applied_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/postgres/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files.len(), MIGRATIONS.len());
        for (file, (version, _, sql)) in files.iter().zip(MIGRATIONS) {
            assert!(file.starts_with(&format!("{version:04}_")), "{file}");
            let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
            assert_eq!(&text, sql, "{file} is the embedded text");
        }
    }
}
