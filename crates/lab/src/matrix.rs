//! The connectivity matrix, pure: the probe answers per (from, to) pair, its JSON form and
//! the table a person reads at a glance (rows: from, columns: to).

use comfy_table::{presets, Cell, CellAlignment, Color, Table};
use serde::{Deserialize, Serialize};

/// One probed pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    pub from: String,
    pub to: String,
    pub reachable: bool,
}

/// Every ordered pair of distinct workloads, probed once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matrix {
    pub pairs: Vec<Pair>,
}

impl Matrix {
    pub fn get(&self, from: &str, to: &str) -> Option<bool> {
        self.pairs
            .iter()
            .find(|p| p.from == from && p.to == to)
            .map(|p| p.reachable)
    }

    pub fn reachable_count(&self) -> usize {
        self.pairs.iter().filter(|p| p.reachable).count()
    }

    /// The pairs whose answer differs from `other`'s.
    pub fn changed_from<'a>(&'a self, other: &Matrix) -> Vec<&'a Pair> {
        self.pairs
            .iter()
            .filter(|p| other.get(&p.from, &p.to).is_some_and(|r| r != p.reachable))
            .collect()
    }

    /// The table: `ok` / `--` per pair (green / red when `color`), `.` on the diagonal, and
    /// a summary line.
    pub fn render(&self, names: &[String], color: bool) -> String {
        let mut table = Table::new();
        table
            .load_style(presets::UTF8_FULL_CONDENSED)
            .force_no_tty();
        if color {
            table.enforce_styling();
        }
        let mut header = vec![Cell::new("from \\ to")];
        header.extend(
            names
                .iter()
                .map(|n| Cell::new(n).set_alignment(CellAlignment::Center)),
        );
        table.set_header(header);
        for from in names {
            let mut row = vec![Cell::new(from)];
            for to in names {
                let cell = match (from == to, self.get(from, to)) {
                    (true, _) => Cell::new("."),
                    (false, Some(true)) => paint(Cell::new("ok"), Color::Green, color),
                    (false, Some(false)) => paint(Cell::new("--"), Color::Red, color),
                    (false, None) => Cell::new("?"),
                };
                row.push(cell.set_alignment(CellAlignment::Center));
            }
            table.add_row(row);
        }
        format!(
            "{table}\n{} of {} pairs reachable (ok = reachable, -- = not reachable)\n",
            self.reachable_count(),
            self.pairs.len()
        )
    }
}

fn paint(cell: Cell, c: Color, color: bool) -> Cell {
    if color {
        cell.fg(c)
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix() -> Matrix {
        let pair = |f: &str, t: &str, r| Pair {
            from: f.into(),
            to: t.into(),
            reachable: r,
        };
        Matrix {
            pairs: vec![pair("a", "b", true), pair("b", "a", false)],
        }
    }

    #[test]
    fn json_shape() {
        let json = serde_json::to_value(matrix()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"pairs": [
                {"from": "a", "to": "b", "reachable": true},
                {"from": "b", "to": "a", "reachable": false}
            ]})
        );
    }

    #[test]
    fn table_without_colour() {
        let names = vec!["a".to_string(), "b".to_string()];
        let text = matrix().render(&names, false);
        assert!(!text.contains('\u{1b}'), "{text}");
        let rows: Vec<&str> = text.lines().collect();
        let a_row = rows
            .iter()
            .find(|l| l.contains(" a ") && l.contains("ok"))
            .unwrap();
        assert!(a_row.contains('.'));
        assert!(rows.iter().any(|l| l.contains(" b ") && l.contains("--")));
        assert!(text.contains("1 of 2 pairs reachable"));
    }

    #[test]
    fn changes() {
        let before = matrix();
        let mut after = matrix();
        after.pairs[0].reachable = false;
        let changed = after.changed_from(&before);
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].from, "a");
    }
}
