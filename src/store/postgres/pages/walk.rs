//! The bounded keyset walk every PostgreSQL list page is made by. Key queries read, from the
//! index the list's conditions lead to, only the rows' keys and the columns of the filters
//! that index leaves over, a chunk at a time (the chunks grow, so a small page costs one small
//! round trip and a page of a rare combination a few); the walk checks those filters itself
//! and loads whole rows, a few per round trip, only for the keys that match while the page has
//! room. SQL never filters beyond what the index serves, so the walk counts every row examined
//! and stops after `rows` of them whatever the filters are.

use super::super::rows::*;
use super::super::PgTx;
use super::{Keyset, Order};

/// Key rows fetched by the walk's successive round trips (the last size repeats), never more
/// than the rows the page may still examine: with the bound of 1,000 a page of filters that
/// match nothing takes three round trips. The sizes are written into the SQL, so each has a
/// plan of its own that knows how few rows it reads.
const KEY_CHUNKS: [usize; 3] = [32, 128, 840];

/// Whole rows loaded per round trip: the items of a page of large conferences are held a few
/// at a time beyond what the page keeps.
const LOAD_BATCH: usize = 16;

type Arg = Box<dyn ToSql + Sync>;

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

    fn holds(&self, row: &Row, idx: usize) -> Result<bool, StoreError> {
        Ok(match self {
            Rest::Is(_, want) => row.try_get::<_, Option<String>>(idx)?.as_deref() == Some(want),
            Rest::Null(_) => row.try_get::<_, Option<i64>>(idx)?.is_none(),
        })
    }
}

/// One list's walk: the table, the conditions its index serves with their arguments, and the
/// filters left to the walk.
pub(super) struct Walk {
    table: &'static str,
    served: String,
    args: Vec<Arg>,
    rest: Vec<Rest>,
    order: Order,
}

impl Walk {
    pub fn new(table: &'static str, order: Order) -> Walk {
        Walk {
            table,
            served: String::new(),
            args: Vec::new(),
            rest: Vec::new(),
            order,
        }
    }

    /// Adds a condition the index serves: `{column} = $n`.
    pub fn seek(mut self, column: &str, arg: Arg) -> Walk {
        self.args.push(arg);
        let condition = format!("{column} = ${}", self.args.len());
        self.and(&condition);
        self
    }

    /// Adds a condition the index serves that takes no argument (a partial index's).
    pub fn and(&mut self, condition: &str) {
        if !self.served.is_empty() {
            self.served.push_str(" AND ");
        }
        self.served.push_str(condition);
    }

    /// Leaves a filter to the walk.
    pub fn check(mut self, rest: Rest) -> Walk {
        self.rest.push(rest);
        self
    }

    /// The key query of `chunk` rows, from the start or (`after`) past a key.
    fn key_query<K: Keyset>(&self, after: bool, chunk: usize) -> String {
        let (cmp, direction) = match self.order {
            Order::NewestFirst => ("<", "DESC"),
            Order::OldestFirst => (">", "ASC"),
        };
        let rest: String = self
            .rest
            .iter()
            .map(|r| format!(", {}", r.column()))
            .collect();
        let mut sql = format!(
            "SELECT {}{rest} FROM {} WHERE {}",
            K::COLUMNS,
            self.table,
            self.served
        );
        if after {
            // A row value, which PostgreSQL turns into a range of the index.
            let n = self.args.len();
            let places: Vec<String> = (1..=K::WIDTH).map(|i| format!("${}", n + i)).collect();
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
        sql.push_str(&format!(" ORDER BY {} LIMIT {chunk}", order.join(", ")));
        sql
    }

    fn matches(&self, row: &Row, from: usize) -> Result<bool, StoreError> {
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

/// A page being made: the items, their estimated size, the key of the last item taken, and
/// whether it is full.
pub(super) struct Walked<T, K> {
    pub items: Vec<T>,
    pub bytes: usize,
    pub next: Option<K>,
    full: bool,
}

/// A walk over the `(tm_create, id)` keyset is a list page.
impl<T> From<Walked<T, crate::domain::query::Cursor>> for crate::domain::query::Page<T> {
    fn from(w: Walked<T, crate::domain::query::Cursor>) -> Self {
        crate::domain::query::Page {
            items: w.items,
            next: w.next,
            bytes: w.bytes,
        }
    }
}

/// Loads the whole items of some keys, in the keys' order (`None` for a row gone since).
pub(super) type Loader<'a, K, T> =
    dyn FnMut(&[K]) -> Result<Vec<Option<(T, usize)>>, StoreError> + 'a;

impl<T, K: Keyset> Walked<T, K> {
    /// Takes the items of matching `keys`, in order, until the page is full. A matching key
    /// beyond the page's room is not loaded: it only tells that the page is full.
    fn offer(
        &mut self,
        keys: &[K],
        limits: Limits,
        load: &mut Loader<'_, K, T>,
    ) -> Result<(), StoreError> {
        for batch in keys.chunks(LOAD_BATCH) {
            let room = limits.items.saturating_sub(self.items.len());
            let take = &batch[..batch.len().min(room)];
            if !take.is_empty() {
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
            }
            if take.len() < batch.len() {
                self.full = true;
                return Ok(());
            }
        }
        Ok(())
    }
}

impl PgTx<'_> {
    /// Walks `w` from `after` until the page is full, the list ends or `limits.rows` rows have
    /// been examined. The page's `next` is where the next page starts (`None` at the end).
    pub(super) fn walk<K: Keyset, T>(
        &self,
        w: &Walk,
        after: Option<K>,
        limits: Limits,
        load: &mut Loader<'_, K, T>,
    ) -> Result<Walked<T, K>, StoreError> {
        let mut page = Walked {
            items: Vec::new(),
            bytes: 0,
            next: None,
            full: false,
        };
        let (mut from, mut examined, mut round) = (after, 0usize, 0usize);
        loop {
            let chunk = KEY_CHUNKS[round.min(KEY_CHUNKS.len() - 1)]
                .min(limits.rows.saturating_sub(examined))
                .max(1);
            let sql = w.key_query::<K>(from.is_some(), chunk);
            let key_args = from.map(K::args).unwrap_or_default();
            let args: Vec<&(dyn ToSql + Sync)> = w
                .args
                .iter()
                .map(|a| a.as_ref())
                .chain(key_args.iter().map(|a| a.as_ref()))
                .collect();
            let rows = self.query(&sql, &args)?;
            round += 1;
            let mut matched = Vec::new();
            for row in rows.iter().take(limits.rows.saturating_sub(examined)) {
                examined += 1;
                let key = K::read(row)?;
                from = Some(key);
                if w.matches(row, K::WIDTH)? {
                    matched.push(key);
                }
            }
            page.offer(&matched, limits, load)?;
            if page.full {
                return Ok(page);
            }
            if examined >= limits.rows {
                // Rows may remain: the next page starts after the last row examined.
                page.next = from;
                return Ok(page);
            }
            if rows.len() < chunk {
                page.next = None;
                return Ok(page);
            }
        }
    }
}
