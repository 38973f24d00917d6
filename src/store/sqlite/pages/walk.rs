//! The bounded keyset walk every SQLite list page is made by. A first query reads, from the
//! one index the list chose, only the rows' keys and the columns of the filters that index
//! leaves over; the walk checks those filters itself and loads a whole row (by its key) only
//! when it matches and the page has room. SQL therefore never filters beyond what the index
//! serves, so the rows it hands over are exactly the rows examined, and the walk stops after
//! `bound` of them whatever the filters are: a page of a combination that matches nothing
//! costs `bound` index entries, not the customer's history.

use super::super::rows::*;
use super::super::SqliteTx;
use super::{Keyset, Order};

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

    /// Whether column `idx` of `row` passes this filter.
    fn holds(&self, row: &Row, idx: usize) -> Result<bool, StoreError> {
        Ok(match self {
            Rest::Is(_, want) => row.get::<_, Option<String>>(idx)?.as_deref() == Some(want),
            Rest::Null(_) => matches!(row.get_ref(idx)?, rusqlite::types::ValueRef::Null),
        })
    }
}

/// One list's walk: the table, the index it seeks (named, so the planner cannot pick one that
/// leaves the bound meaningless), the conditions that index serves with their arguments, and
/// the filters left to the walk.
pub(super) struct Walk {
    pub table: &'static str,
    pub index: &'static str,
    pub served: String,
    pub args: Vec<SqlValue>,
    pub rest: Vec<Rest>,
    pub order: Order,
}

impl Walk {
    pub fn new(table: &'static str, index: &'static str, order: Order) -> Walk {
        Walk {
            table,
            index,
            served: String::new(),
            args: Vec::new(),
            rest: Vec::new(),
            order,
        }
    }

    /// Adds a condition the index serves: `{column} = ?`.
    pub fn seek(mut self, column: &str, arg: SqlValue) -> Walk {
        self.and(&format!("{column} = ?"));
        self.args.push(arg);
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

    /// The key query from `after` on, and its arguments.
    fn key_query<K: Keyset>(&self, after: Option<K>, bound: usize) -> (String, Vec<SqlValue>) {
        let (cmp, direction) = match self.order {
            Order::NewestFirst => ("<", "DESC"),
            Order::OldestFirst => (">", "ASC"),
        };
        let rest: String = self
            .rest
            .iter()
            .map(|r| format!(", {}", r.column()))
            .collect();
        let mut args = self.args.clone();
        let mut sql = format!(
            "SELECT {}{rest} FROM {} INDEXED BY {} WHERE {}",
            K::COLUMNS,
            self.table,
            self.index,
            self.served
        );
        if let Some(k) = after {
            // A row value, which SQLite turns into a range of the index; the expanded
            // `a < ? OR (a = ? AND b < ?)` it does not, and would walk from the index's end.
            sql.push_str(&format!(" AND ({}) {cmp} ({})", K::COLUMNS, K::PLACES));
            args.extend(k.args());
        }
        let order: Vec<String> = K::COLUMNS
            .split(", ")
            .map(|c| format!("{c} {direction}"))
            .collect();
        sql.push_str(&format!(" ORDER BY {} LIMIT ?", order.join(", ")));
        args.push(SqlValue::Integer(i64::try_from(bound).unwrap_or(i64::MAX)));
        (sql, args)
    }
}

/// A page as the walk made it: the items, their estimated size and where the next page
/// starts (`None` when the walk reached the end of the list).
pub(super) struct Walked<T, K> {
    pub items: Vec<T>,
    pub bytes: usize,
    pub next: Option<K>,
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

/// Page limits: items, estimated bytes (the first item is always taken), rows examined.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub items: usize,
    pub bytes: usize,
    pub rows: usize,
}

impl SqliteTx<'_> {
    /// Walks `w` from `after` until the page is full, the list ends or `limits.rows` rows
    /// have been examined; `load` reads the whole item of a matching key and its size.
    pub(super) fn walk<K: Keyset, T>(
        &self,
        w: &Walk,
        after: Option<K>,
        limits: Limits,
        mut load: impl FnMut(K) -> Result<Option<(T, usize)>, StoreError>,
    ) -> Result<Walked<T, K>, StoreError> {
        let (sql, args) = w.key_query(after, limits.rows);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut page = Walked {
            items: Vec::new(),
            bytes: 0,
            next: None,
        };
        let (mut examined, mut last_taken, mut last_seen) = (0usize, None, None);
        while let Some(row) = rows.next()? {
            examined += 1;
            let key = K::read(row)?;
            last_seen = Some(key);
            if matches(row, K::WIDTH, &w.rest)? {
                if page.items.len() >= limits.items {
                    page.next = last_taken;
                    return Ok(page);
                }
                // A row deleted since the key query read it (retention) is passed over.
                let Some((item, size)) = load(key)? else {
                    continue;
                };
                if !page.items.is_empty() && page.bytes.saturating_add(size) > limits.bytes {
                    page.next = last_taken;
                    return Ok(page);
                }
                page.bytes = page.bytes.saturating_add(size);
                page.items.push(item);
                last_taken = Some(key);
            }
        }
        // The query's LIMIT is the bound: when it was reached, rows may remain, and the next
        // page starts after the last row examined (which may be past the last item taken).
        if examined >= limits.rows {
            page.next = last_seen;
        }
        Ok(page)
    }
}

/// Whether a key row passes the filters left to the walk (read after the key's columns).
fn matches(row: &Row, from: usize, rest: &[Rest]) -> Result<bool, StoreError> {
    for (i, r) in rest.iter().enumerate() {
        if !r.holds(row, from + i)? {
            return Ok(false);
        }
    }
    Ok(true)
}
