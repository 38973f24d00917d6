//! List pages, written once for both backends: the walks, their bound, and the pages they make.
//!
//! A page ends at whichever comes first: `limit` items, `max_bytes` of the items' rendered
//! size as estimated by the caller's or the domain's `json_len` (the first item is always
//! taken, however large, so a page that finds an item makes progress), or `SCAN_BOUND` rows
//! examined past its cursor. Each list seeks the one index that serves its filter (or the
//! most selective of its filters) in keyset order (`lists.rs`), and the filters that index
//! leaves over are checked on the walk (`walk.rs`), which counts what it examines: a page of
//! filters that match nothing in a long history stops at the bound, possibly with no item,
//! and its token points after the last row examined so the client continues from there.
//! Whole rows are loaded only for the items taken. The estimates come from the stored text
//! lengths, which are exact for the JSON confab serves verbatim, so nothing is rendered twice.
//!
//! A backend provides only what differs between the databases (`PageSource`): how its SQL
//! writes a placeholder and names an index, how many rows a round trip should carry, and how
//! it runs a query and hands over the rows.

mod lists;
mod walk;

use crate::domain::query::Cursor;
use crate::store::columns::{uuid_col, Columns};
use crate::store::StoreError;
use walk::Limits;

/// The most rows a page examines beyond its cursor. A thousand index entries (with the
/// table rows of those a filter needs) take about a millisecond on SQLite and a few round
/// trips of keys on PostgreSQL, so no page holds a reader for long, while a list whose
/// filter an index serves whole still fills a 100-item page.
pub(in crate::store) const SCAN_BOUND: usize = 1000;

#[cfg(test)]
thread_local! {
    /// The bound of this thread's pages, made small by the tests of bounded pages.
    pub(in crate::store) static BOUND: std::cell::Cell<usize> =
        const { std::cell::Cell::new(SCAN_BOUND) };
}

fn scan_bound() -> usize {
    #[cfg(test)]
    return BOUND.with(|b| b.get());
    #[cfg(not(test))]
    SCAN_BOUND
}

fn limits(items: usize, bytes: usize) -> Limits {
    Limits {
        items,
        bytes,
        rows: scan_bound(),
    }
}

/// A value a walk hands to its SQL: each backend binds it as its own parameter type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(in crate::store) enum Param {
    Int(i64),
    Text(String),
}

fn text(s: impl ToString) -> Param {
    Param::Text(s.to_string())
}

/// A statement of a walk and its arguments, in a backend's dialect.
pub(in crate::store) struct Query {
    pub sql: String,
    pub args: Vec<Param>,
}

/// The rows a walk loads whole: the `columns` of the rows of `table` whose `key` column holds
/// one of `keys`.
pub(in crate::store) struct ByKey<'a> {
    pub table: &'a str,
    pub columns: &'a str,
    pub key: &'a str,
    pub keys: &'a [Param],
}

/// Takes a key row, and answers whether the walk wants the next one.
pub(in crate::store) type Visit<'a> = &'a mut dyn FnMut(&dyn Columns) -> Result<bool, StoreError>;

/// Takes a whole row.
pub(in crate::store) type Read<'a> = &'a mut dyn FnMut(&dyn Columns) -> Result<(), StoreError>;

/// What a backend gives the list walks: its SQL dialect, the size of its round trips, and
/// its rows. The walks themselves, and every list built on them, are written once over this.
pub(in crate::store) trait PageSource {
    /// Key rows fetched by a walk's successive key queries (the last size repeats), never
    /// more than the rows the page may still examine.
    const KEY_CHUNKS: &'static [usize];
    /// Whole rows loaded at once: the items of a page of large rows are held this many at a
    /// time beyond what the page keeps.
    const LOAD_BATCH: usize;

    /// The placeholder of the `n`th argument of a statement, counted from 1.
    fn place(n: usize) -> String;

    /// What a key query reads from: `table`, read through `index` where the dialect can
    /// name it.
    fn source(table: &str, index: &str) -> String;

    /// Runs a key query and hands its rows to `visit`, in order, until `visit` answers
    /// `false` or the rows end.
    fn key_rows(&self, q: &Query, visit: Visit<'_>) -> Result<(), StoreError>;

    /// Reads the rows of `rows`, handing each to `read` in whatever order the database gives
    /// them.
    fn rows_by_key(&self, rows: &ByKey<'_>, read: Read<'_>) -> Result<(), StoreError>;
}

/// Which way a keyset list runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    NewestFirst,
    OldestFirst,
}

/// The key a list runs over and its cursor: `(tm_create, id)`, or the outbox's `seq`.
trait Keyset: Copy {
    /// The key's columns, as selected and ordered.
    const COLUMNS: &'static str;
    /// How many columns the key has (the walk's filter columns follow them).
    const WIDTH: usize;
    /// The column that names one row, by which whole rows are loaded.
    const ROW: &'static str;
    fn read(row: &dyn Columns) -> Result<Self, StoreError>;
    /// The key's values, in the order of `COLUMNS`.
    fn args(self) -> Vec<Param>;
    /// The value of `ROW`.
    fn row(self) -> Param;
}

impl Keyset for Cursor {
    const COLUMNS: &'static str = "tm_create, id";
    const WIDTH: usize = 2;
    const ROW: &'static str = "id";

    fn read(row: &dyn Columns) -> Result<Self, StoreError> {
        Ok(Cursor {
            tm_create: row.int(0)?,
            id: uuid_col(row, 1)?,
        })
    }

    fn args(self) -> Vec<Param> {
        vec![Param::Int(self.tm_create), self.row()]
    }

    fn row(self) -> Param {
        text(self.id)
    }
}

/// A position in the delivery log.
#[derive(Debug, Clone, Copy)]
struct Seq(i64);

impl Keyset for Seq {
    const COLUMNS: &'static str = "seq";
    const WIDTH: usize = 1;
    const ROW: &'static str = "seq";

    fn read(row: &dyn Columns) -> Result<Self, StoreError> {
        Ok(Seq(row.int(0)?))
    }

    fn args(self) -> Vec<Param> {
        vec![self.row()]
    }

    fn row(self) -> Param {
        Param::Int(self.0)
    }
}
