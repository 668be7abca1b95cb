//! The PostgreSQL [`Store`]: what several replicas share. A pool of connections
//! (r2d2), embedded migrations applied at open under an advisory lock (the first replica
//! of a start migrates, the others wait), and the same guarantees as SQLite: each use
//! case is one transaction, the inbox is taken with row locks (`FOR UPDATE SKIP
//! LOCKED`), processed message ids are unique, a ticket is taken by one agent.
//!
//! Synchronous like the seam: the `postgres` client runs its own small runtime, so async
//! callers go through `spawn_blocking` (as for SQLite).

use std::path::Path;
use std::time::Duration;

use postgres::NoTls;
use r2d2::PooledConnection;
use r2d2_postgres::PostgresConnectionManager;

mod kb;
mod staff;

use super::StoreError;
use super::keys::{PseudonymKey, RouteKey};
use super::worker::Worker;

type Manager = PostgresConnectionManager<NoTls>;
pub(crate) type Conn = PooledConnection<Manager>;

/// Migrations in order, each applied once in its own transaction and recorded in
/// `schema_migrations`. A new one is added at the end; an applied one is never edited.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("postgres/migrations/0001_core.sql")),
    (2, include_str!("postgres/migrations/0002_staff.sql")),
    (3, include_str!("postgres/migrations/0003_kb.sql")),
];

/// Any number that names our migration lock among the database's advisory locks.
const MIGRATION_LOCK: i64 = 0x6775_6963_6865_74; // "guichet"

/// How long a request waits for a pooled connection before the store answers
/// [`StoreError::Unavailable`] (the web layer: 503 with `Retry-After`).
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(3);

pub struct PgStore {
    pool: r2d2::Pool<Manager>,
    pseudonym_key: PseudonymKey,
    /// Seals how to reach a person with a key kept outside the database: every replica
    /// reads the same key file.
    routes: RouteKey,
    /// The holder of the inbox rows this store takes.
    worker: Worker,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host/db`), migrates, and reads the route key
    /// from `route_key_file` (created if missing: give every replica the same file).
    pub fn open(url: &str, route_key_file: &Path, pool_size: u32) -> Result<Self, StoreError> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| StoreError::Backend(Box::new(e)))?;
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.max(2))
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .build(PostgresConnectionManager::new(config, NoTls))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let routes = RouteKey::load_or_create(route_key_file)?;
        let mut conn = pool
            .get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        migrate(&mut conn)?;
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('pseudonym_key', $1) ON CONFLICT (key) DO NOTHING",
            &[&PseudonymKey::generate()],
        )?;
        let key: String = conn
            .query_one("SELECT value FROM meta WHERE key = 'pseudonym_key'", &[])?
            .get(0);
        drop(conn);
        Ok(Self {
            pool,
            pseudonym_key: PseudonymKey::from_stored(&key),
            routes,
            worker: Worker::this_process(),
        })
    }

    /// The worker this store takes inbox rows for.
    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    /// A pooled connection; none within [`CHECKOUT_TIMEOUT`]: unavailable.
    pub(crate) fn conn(&self) -> Result<Conn, StoreError> {
        self.pool
            .get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    pub(crate) fn routes(&self) -> &RouteKey {
        &self.routes
    }

    pub(crate) fn pseudonym_key(&self) -> &PseudonymKey {
        &self.pseudonym_key
    }
}

/// Applies the migrations not applied yet, all in one transaction holding the migration
/// lock: replicas starting together migrate once, and a replica of the previous version
/// never sees half a migration.
fn migrate(conn: &mut Conn) -> Result<(), StoreError> {
    let mut tx = conn.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )?;
    let applied: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )?
        .get(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )?;
        tracing::info!(version, "database migrated");
    }
    tx.commit()?;
    Ok(())
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        use postgres::error::SqlState;
        if let Some(code) = e.code() {
            if [
                SqlState::T_R_SERIALIZATION_FAILURE,
                SqlState::T_R_DEADLOCK_DETECTED,
                SqlState::LOCK_NOT_AVAILABLE,
            ]
            .contains(code)
            {
                return Self::Busy(e.to_string());
            }
            // Class 08 (connection exception), 57P (the server shutting down or
            // starting), 53 (out of resources: too many connections).
            let class = code.code();
            if class.starts_with("08") || class.starts_with("57P") || class.starts_with("53") {
                return Self::Unavailable(e.to_string());
            }
            return Self::Backend(Box::new(e));
        }
        // No SQL state: the connection closed or failed underneath.
        if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
        {
            return Self::Unavailable(e.to_string());
        }
        Self::Backend(Box::new(e))
    }
}

/// A fresh database on the server named by `GUICHET_TEST_PG` (tests): created with a
/// random name, dropped when the guard is.
#[doc(hidden)]
pub mod scratch {
    use super::*;

    /// A database that exists while this lives.
    pub struct ScratchDb {
        server: String,
        pub name: String,
        pub url: String,
    }

    impl ScratchDb {
        /// # Panics
        /// When `GUICHET_TEST_PG` is not set or its server cannot be reached: the
        /// PostgreSQL tests must not pass by not running (`make test` starts a server).
        pub fn new() -> Self {
            let server = std::env::var("GUICHET_TEST_PG").expect(
                "GUICHET_TEST_PG is not set: `make test` starts a PostgreSQL server and sets it \
                 (scripts/postgres.sh)",
            );
            let name = format!("guichet_t_{}", hex::encode(rand::random::<[u8; 6]>()));
            let mut client = postgres::Client::connect(&server, NoTls)
                .unwrap_or_else(|e| panic!("GUICHET_TEST_PG={server}: {e}"));
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("scratch database created");
            let url = with_dbname(&server, &name);
            Self { server, name, url }
        }
    }

    impl Drop for ScratchDb {
        fn drop(&mut self) {
            if let Ok(mut client) = postgres::Client::connect(&self.server, NoTls) {
                let _ = client.batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ));
            }
        }
    }

    /// `url` with its database replaced by `name`.
    pub fn with_dbname(url: &str, name: &str) -> String {
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url, None),
        };
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let host_end = base[scheme_end..]
            .find('/')
            .map_or(base.len(), |i| scheme_end + i);
        let mut out = format!("{}/{name}", &base[..host_end]);
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        out
    }

    /// A store over a new scratch database, its route key in `dir`.
    pub fn store(dir: &Path) -> (PgStore, ScratchDb) {
        let db = ScratchDb::new();
        let store = PgStore::open(&db.url, &dir.join("route-key"), 4).expect("store opens");
        (store, db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_migrates_nothing_and_keeps_the_pseudonym_key() {
        let dir = tempfile::tempdir().unwrap();
        let (first, db) = scratch::store(dir.path());
        let again = PgStore::open(&db.url, &dir.path().join("route-key"), 2).unwrap();
        let a = first
            .pseudonym_key()
            .pseudonym(super::super::Channel::Web, "x");
        let b = again
            .pseudonym_key()
            .pseudonym(super::super::Channel::Web, "x");
        assert_eq!(a, b);
        let versions: i64 = again
            .conn()
            .unwrap()
            .query_one("SELECT count(*) FROM schema_migrations", &[])
            .unwrap()
            .get(0);
        assert_eq!(versions, MIGRATIONS.len() as i64);
    }

    #[test]
    fn a_test_url_takes_the_scratch_database_name() {
        assert_eq!(
            scratch::with_dbname("postgres://u@h:5/postgres?sslmode=disable", "t1"),
            "postgres://u@h:5/t1?sslmode=disable"
        );
        assert_eq!(
            scratch::with_dbname("postgres://u@h", "t1"),
            "postgres://u@h/t1"
        );
    }
}
