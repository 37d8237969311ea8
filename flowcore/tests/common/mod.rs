//! Helpers shared by the integration tests.

use sqlx::Connection;

/// The PostgreSQL server every machine (CI's included) runs: trust auth, database `test`.
const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh PostgreSQL database for one test, so that runs never collide; [`FreshPostgres::drop`]
/// removes it.
pub struct FreshPostgres {
    /// Its URL.
    pub url: String,
    name: String,
    admin: sqlx::PgConnection,
}

impl FreshPostgres {
    /// Creates `{prefix}_{uuid}`.
    pub async fn create(prefix: &str) -> FreshPostgres {
        let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
        let mut admin = sqlx::PgConnection::connect(PG_ADMIN)
            .await
            .expect("PostgreSQL must run on 127.0.0.1:5432 (trust auth, database `test`)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        FreshPostgres {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            name,
            admin,
        }
    }

    /// Drops the database (closing what still uses it).
    pub async fn drop(mut self) {
        sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&mut self.admin)
            .await
            .unwrap();
    }
}
