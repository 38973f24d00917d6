//! List pages in PostgreSQL: the dialect and the rows the shared walk (`store::pages`) reads.

use super::rows::*;
use super::PgTx;
use crate::store::pages::{ByKey, PageSource, Param, Query, Read, Visit};

impl PageSource for PgTx<'_> {
    /// Each size is a round trip: a small page costs one small one, and with the bound of
    /// 1,000 a page of filters that match nothing takes three.
    const KEY_CHUNKS: &'static [usize] = &[32, 128, 840];
    /// A few whole rows per round trip, so a list of 1 MB conferences never holds more than
    /// a few rows beyond its page.
    const LOAD_BATCH: usize = 16;

    fn place(n: usize) -> String {
        format!("${n}")
    }

    /// PostgreSQL takes no index hints; the walk's conditions lead its planner to the index.
    fn source(table: &str, _index: &str) -> String {
        table.to_string()
    }

    fn key_rows(&self, q: &Query, visit: Visit<'_>) -> Result<(), StoreError> {
        let values: Vec<Box<dyn ToSql + Sync>> = q.args.iter().map(value).collect();
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        for row in self.query(&q.sql, &params)? {
            if !visit(&row)? {
                break;
            }
        }
        Ok(())
    }

    /// One round trip for all the keys, which are all of one type (a keyset's row column).
    fn rows_by_key(&self, rows: &ByKey<'_>, read: Read<'_>) -> Result<(), StoreError> {
        // An empty array would be taken for integers, whatever the key column's type.
        if rows.keys.is_empty() {
            return Ok(());
        }
        let ints: Option<Vec<i64>> = rows
            .keys
            .iter()
            .map(|k| match k {
                Param::Int(i) => Some(*i),
                Param::Text(_) => None,
            })
            .collect();
        let array: Box<dyn ToSql + Sync> = match ints {
            Some(ints) => Box::new(ints),
            None => Box::new(rows.keys.iter().map(text).collect::<Vec<String>>()),
        };
        let sql = format!(
            "SELECT {} FROM {} WHERE {} = ANY($1)",
            rows.columns, rows.table, rows.key
        );
        for row in self.query(&sql, &[array.as_ref()])? {
            read(&row)?;
        }
        Ok(())
    }
}

fn value(p: &Param) -> Box<dyn ToSql + Sync> {
    match p {
        Param::Int(i) => Box::new(*i),
        Param::Text(s) => Box::new(s.clone()),
    }
}

/// A key as text; an integer among text keys cannot occur, and would match no row.
fn text(p: &Param) -> String {
    match p {
        Param::Int(i) => i.to_string(),
        Param::Text(s) => s.clone(),
    }
}
