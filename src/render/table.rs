//! Column-aligned text tables like Go's `tabwriter` output in docker's CLI:
//! each column as wide as its widest cell plus three spaces; trailing
//! spaces trimmed.

/// Formats `rows` (the first one being the header) as aligned lines.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| console::measure_text_width(cell))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                let pad = widths[c] - console::measure_text_width(cell) + 3;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_the_widest_cell() {
        let rows = vec![
            vec!["TARGET".to_string(), "DESCRIPTION".to_string()],
            vec!["build".to_string(), "compiles".to_string()],
            vec!["release (default)".to_string(), String::new()],
        ];
        assert_eq!(
            table(&rows),
            "TARGET              DESCRIPTION\n\
             build               compiles\n\
             release (default)\n"
        );
    }
}
