//! The bounded keyset walk every list page is made by, on either backend.
//!
//! Key queries read, from the one index the list chose, only the rows' keys and the columns of
//! the filters that index leaves over, a chunk at a time (`PageSource::KEY_CHUNKS`); the walk
//! checks those filters itself and loads whole rows (`PageSource::LOAD_BATCH` at a time) only
//! for the keys that match while the page has room. SQL therefore never filters beyond what
//! the index serves, so the rows it hands over are exactly the rows examined, and the walk
//! stops after `rows` of them whatever the filters are: a page of a combination that matches
//! nothing costs the bound's index entries, not the customer's history.

use super::{Keyset, Order, PageSource, Param, Query};
use crate::domain::query::{Cursor, Page};
use crate::store::columns::Columns;
use crate::store::StoreError;

/// A filter the chosen index leaves to the walk: the column and what it must hold.
#[derive(Debug, Clone)]
pub(super) enum Rest {
    Is(&'static str, String),
    Null(&'static str),
}

impl Rest {
    fn column(&self) -> &'static str {
        match self {
            Rest::Is(c, _) | Rest::Null(c) => c,
        }
    }

    /// Whether column `idx` of `row` passes this filter. The only column checked for NULL is
    /// a time, so it is read as an integer.
    fn holds(&self, row: &dyn Columns, idx: usize) -> Result<bool, StoreError> {
        Ok(match self {
            Rest::Is(_, want) => row.opt_text(idx)?.as_deref() == Some(want),
            Rest::Null(_) => row.opt_int(idx)?.is_none(),
        })
    }
}

/// One list's walk: the table, the index it seeks (named where the dialect can, so the
/// planner cannot pick one that leaves the bound meaningless), the conditions that index
/// serves with their arguments, and the filters left to the walk.
pub(super) struct Walk {
    table: &'static str,
    index: &'static str,
    seeks: Vec<(&'static str, Param)>,
    conditions: Vec<&'static str>,
    rest: Vec<Rest>,
    order: Order,
}

impl Walk {
    pub fn new(table: &'static str, index: &'static str, order: Order) -> Walk {
        Walk {
            table,
            index,
            seeks: Vec::new(),
            conditions: Vec::new(),
            rest: Vec::new(),
            order,
        }
    }

    /// Adds a condition the index serves: `column` equals `arg`.
    pub fn seek(mut self, column: &'static str, arg: Param) -> Walk {
        self.seeks.push((column, arg));
        self
    }

    /// Adds a condition the index serves that takes no argument (a partial index's).
    pub fn and(mut self, condition: &'static str) -> Walk {
        self.conditions.push(condition);
        self
    }

    /// Leaves a filter to the walk.
    pub fn check(mut self, rest: Rest) -> Walk {
        self.rest.push(rest);
        self
    }

    /// The key query of at most `chunk` rows from the start or past `after`, in the dialect
    /// of `S`, and its arguments.
    fn key_query<S: PageSource, K: Keyset>(&self, after: Option<K>, chunk: usize) -> Query {
        let (cmp, direction) = match self.order {
            Order::NewestFirst => ("<", "DESC"),
            Order::OldestFirst => (">", "ASC"),
        };
        let mut args = Vec::new();
        let mut served = Vec::new();
        for (column, arg) in &self.seeks {
            args.push(arg.clone());
            served.push(format!("{column} = {}", S::place(args.len())));
        }
        served.extend(self.conditions.iter().map(|c| c.to_string()));
        let rest: String = self
            .rest
            .iter()
            .map(|r| format!(", {}", r.column()))
            .collect();
        let mut sql = format!(
            "SELECT {}{rest} FROM {} WHERE {}",
            K::COLUMNS,
            S::source(self.table, self.index),
            served.join(" AND ")
        );
        if let Some(k) = after {
            // A row value, which both databases turn into a range of the index; the expanded
            // `a < ? OR (a = ? AND b < ?)` SQLite does not, and would walk from the index's end.
            let mut places = Vec::new();
            for arg in k.args() {
                args.push(arg);
                places.push(S::place(args.len()));
            }
            sql.push_str(&format!(
                " AND ({}) {cmp} ({})",
                K::COLUMNS,
                places.join(", ")
            ));
        }
        let order: Vec<String> = K::COLUMNS
            .split(", ")
            .map(|c| format!("{c} {direction}"))
            .collect();
        // The size is written into the SQL, so each chunk has a plan of its own that knows how
        // few rows it reads.
        sql.push_str(&format!(" ORDER BY {} LIMIT {chunk}", order.join(", ")));
        Query { sql, args }
    }

    /// Whether a key row passes the filters left to the walk (read after the key's columns).
    fn matches(&self, row: &dyn Columns, from: usize) -> Result<bool, StoreError> {
        for (i, r) in self.rest.iter().enumerate() {
            if !r.holds(row, from + i)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Page limits: items, estimated bytes (the first item is always taken), rows examined.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub items: usize,
    pub bytes: usize,
    pub rows: usize,
}

/// Loads the whole items of some keys and their sizes, in the keys' order (`None` for a row
/// gone since the walk saw its key, which retention may delete).
pub(super) type Loader<'a, K, T> =
    dyn FnMut(&[K]) -> Result<Vec<Option<(T, usize)>>, StoreError> + 'a;

/// A page being made: the items, their estimated size, where the next page starts (the key
/// of the last item taken until the walk ends), the matching keys not loaded yet, and whether
/// the page is full.
pub(super) struct Walked<T, K> {
    pub items: Vec<T>,
    pub bytes: usize,
    pub next: Option<K>,
    waiting: Vec<K>,
    full: bool,
}

/// A walk over the `(tm_create, id)` keyset is a list page.
impl<T> From<Walked<T, Cursor>> for Page<T> {
    fn from(w: Walked<T, Cursor>) -> Self {
        Page {
            items: w.items,
            next: w.next,
            bytes: w.bytes,
        }
    }
}

impl<T, K: Keyset> Walked<T, K> {
    fn room(&self, limits: Limits) -> usize {
        limits.items.saturating_sub(self.items.len())
    }

    /// Takes a matching key: it waits until a batch is there to load, or until it is one
    /// more than the page has room for, which tells that the page will be full.
    fn offer(
        &mut self,
        key: K,
        limits: Limits,
        batch: usize,
        load: &mut Loader<'_, K, T>,
    ) -> Result<(), StoreError> {
        self.waiting.push(key);
        if self.waiting.len() >= batch || self.waiting.len() > self.room(limits) {
            self.flush(limits, load)?;
        }
        Ok(())
    }

    /// Loads the waiting keys the page has room for and takes their items, in order, until
    /// the page is full. A waiting key beyond the page's room is not loaded: it only tells
    /// that the page is full.
    fn flush(&mut self, limits: Limits, load: &mut Loader<'_, K, T>) -> Result<(), StoreError> {
        let waiting = std::mem::take(&mut self.waiting);
        let take = &waiting[..waiting.len().min(self.room(limits))];
        self.full = take.len() < waiting.len();
        if take.is_empty() {
            return Ok(());
        }
        for (key, item) in take.iter().zip(load(take)?) {
            let Some((item, size)) = item else { continue };
            if !self.items.is_empty() && self.bytes.saturating_add(size) > limits.bytes {
                self.full = true;
                return Ok(());
            }
            self.bytes = self.bytes.saturating_add(size);
            self.items.push(item);
            self.next = Some(*key);
        }
        Ok(())
    }
}

/// Walks `w` on `src` from `after` until the page is full, the list ends or `limits.rows`
/// rows have been examined. The page's `next` is where the next page starts (`None` at the
/// end of the list).
pub(super) fn walk<S: PageSource, K: Keyset, T>(
    src: &S,
    w: &Walk,
    after: Option<K>,
    limits: Limits,
    load: &mut Loader<'_, K, T>,
) -> Result<Walked<T, K>, StoreError> {
    let mut page = Walked {
        items: Vec::new(),
        bytes: 0,
        next: None,
        waiting: Vec::new(),
        full: false,
    };
    let (mut from, mut examined, mut round) = (after, 0usize, 0usize);
    loop {
        let last = S::KEY_CHUNKS.len().saturating_sub(1);
        let chunk = (S::KEY_CHUNKS.get(round.min(last)).copied())
            .unwrap_or(usize::MAX)
            .min(limits.rows.saturating_sub(examined))
            .max(1);
        round += 1;
        let query = w.key_query::<S, K>(from, chunk);
        let mut read = 0usize;
        src.key_rows(&query, &mut |row| {
            read += 1;
            examined += 1;
            let key = K::read(row)?;
            from = Some(key);
            if w.matches(row, K::WIDTH)? {
                page.offer(key, limits, S::LOAD_BATCH, load)?;
            }
            Ok(!page.full)
        })?;
        if !page.full {
            page.flush(limits, load)?;
        }
        if page.full {
            return Ok(page);
        }
        if examined >= limits.rows {
            // Rows may remain: the next page starts after the last row examined, which may
            // be past the last item taken.
            page.next = from;
            return Ok(page);
        }
        if read < chunk {
            page.next = None;
            return Ok(page);
        }
    }
}
