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

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`, and any `password=`
/// parameter's value → `***`. The password may hold characters a URL should have encoded
/// (`/`, `?`, `@`), so the user part runs to the last `@`: when in doubt, more is hidden.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let hidden = match rest.rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}",
                &url[..scheme_end],
                &rest[..colon],
                &rest[at..]
            ),
            None => url.to_string(),
        },
        None => url.to_string(),
    };
    hide_password_parameters(&hidden)
}

/// `…?sslmode=require&password=x` → `…?sslmode=require&password=***`.
fn hide_password_parameters(url: &str) -> String {
    let Some(q) = url.find('?') else {
        return url.to_string();
    };
    let params: Vec<String> = url[q + 1..]
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
            _ => p.to_string(),
        })
        .collect();
    format!("{}?{}", &url[..q], params.join("&"))
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
        // Characters a URL should have encoded, and a password given as a parameter.
        let db = Database::from_str("postgres://app:hun/ter?2@db.local/confab").unwrap();
        assert_eq!(db.to_string(), "postgres://app:***@db.local/confab");
        let db =
            Database::from_str("postgres://app@db.local/confab?sslmode=require&password=hunter2")
                .unwrap();
        assert_eq!(
            db.to_string(),
            "postgres://app@db.local/confab?sslmode=require&password=***"
        );
        assert!(!format!("{db:?}").contains("hunter2"));
    }
}
