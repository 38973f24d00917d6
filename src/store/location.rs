//! Where the data lives: a SQLite file, or a PostgreSQL database shared by several nodes.

use std::convert::Infallible;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The `--db` setting: a `postgres://` (or `postgresql://`) URL selects the PostgreSQL
/// backend; anything else is the path of a SQLite file.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Database {
    pub fn is_postgres(&self) -> bool {
        matches!(self, Database::Postgres(_))
    }
}

impl FromStr for Database {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Ok(Database::Postgres(s.to_string()))
        } else {
            Ok(Database::Sqlite(PathBuf::from(s)))
        }
    }
}

impl From<PathBuf> for Database {
    fn from(p: PathBuf) -> Self {
        Database::Sqlite(p)
    }
}

impl From<&std::path::Path> for Database {
    fn from(p: &std::path::Path) -> Self {
        Database::Sqlite(p.to_path_buf())
    }
}

/// Shown in logs and errors: a URL's password never is.
impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(p) => write!(f, "{}", p.display()),
            Database::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Database({self})")
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &authority[..colon],
            &rest[at..]
        ),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_postgres_and_paths_sqlite() {
        assert!(Database::from_str("postgres://u@h/db")
            .unwrap()
            .is_postgres());
        assert!(Database::from_str("PostgreSQL://u@h/db")
            .unwrap()
            .is_postgres());
        assert!(!Database::from_str("confab.db").unwrap().is_postgres());
        assert!(!Database::from_str("./postgres.db").unwrap().is_postgres());
    }

    #[test]
    fn passwords_are_not_shown() {
        let db = Database::from_str("postgres://app:hunter2@db.local:5432/confab").unwrap();
        assert_eq!(db.to_string(), "postgres://app:***@db.local:5432/confab");
        let db = Database::from_str("postgres://app@db.local/confab").unwrap();
        assert_eq!(db.to_string(), "postgres://app@db.local/confab");
    }
}
