//! Column alignment the way Go's `text/tabwriter` lays out calicoctl tables
//! (minimum width 5, padding 3, every cell padded, including the last one).

const MIN_WIDTH: usize = 5;
const PADDING: usize = 3;

/// Renders `rows` (the header first) as aligned text, one line per row.
pub fn render(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count() + PADDING)
                .max()
                .unwrap_or(0)
                .max(MIN_WIDTH)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        for (cell, width) in row.iter().zip(&widths) {
            out.push_str(cell);
            out.extend(std::iter::repeat_n(' ', width - cell.chars().count()));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn pads_every_cell_to_widest_plus_three() {
        let text = render(&[
            row(&["NAME", "CIDR", "SELECTOR"]),
            row(&["default-ipv4-ippool", "192.168.0.0/16", "all()"]),
        ]);
        assert_eq!(
            text,
            "NAME                  CIDR             SELECTOR   \n\
             default-ipv4-ippool   192.168.0.0/16   all()      \n"
        );
    }

    #[test]
    fn narrow_columns_take_the_minimum_width() {
        assert_eq!(
            render(&[row(&["A", ""]), row(&["", "b"])]),
            "A    \x20    \n     b    \n"
        );
    }
}
