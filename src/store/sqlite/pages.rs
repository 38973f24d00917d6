//! List pages in SQLite: the dialect and the rows the shared walk (`store::pages`) reads.

use super::rows::*;
use super::SqliteTx;
use crate::store::pages::{ByKey, PageSource, Param, Query, Read, Visit};

impl PageSource for SqliteTx<'_> {
    /// One key query reads up to the bound: the statement's rows cost no round trip, and the
    /// walk stops reading them the moment the page is full.
    const KEY_CHUNKS: &'static [usize] = &[usize::MAX];
    /// A whole row is loaded the moment its key matches, so a page never reads a row it
    /// does not keep.
    const LOAD_BATCH: usize = 1;

    fn place(n: usize) -> String {
        format!("?{n}")
    }

    /// The index is named, so the planner cannot pick one that leaves the bound meaningless.
    fn source(table: &str, index: &str) -> String {
        format!("{table} INDEXED BY {index}")
    }

    fn key_rows(&self, q: &Query, visit: Visit<'_>) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(&q.sql)?;
        let mut rows = stmt.query(params_from_iter(q.args.iter().map(value)))?;
        while let Some(row) = rows.next()? {
            if !visit(row)? {
                break;
            }
        }
        Ok(())
    }

    /// One statement per key: in process, a lookup by key costs no round trip.
    fn rows_by_key(&self, rows: &ByKey<'_>, read: Read<'_>) -> Result<(), StoreError> {
        let sql = format!(
            "SELECT {} FROM {} WHERE {} = ?1",
            rows.columns, rows.table, rows.key
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        for k in rows.keys {
            let mut found = stmt.query([value(k)])?;
            while let Some(row) = found.next()? {
                read(row)?;
            }
        }
        Ok(())
    }
}

fn value(p: &Param) -> SqlValue {
    match p {
        Param::Int(i) => SqlValue::Integer(*i),
        Param::Text(s) => SqlValue::Text(s.clone()),
    }
}

#[cfg(test)]
mod tests;
