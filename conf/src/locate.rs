//! Turns the byte span of a TOML error into a key path (`forward-zone[0].health-check`).
//!
//! serde stops at the first type error or unknown key and reports only a span; toml adds
//! line and column. Operators think in key paths, so the text is parsed once more into
//! toml's spanned document tree and the path of the innermost key or value covering the span
//! is reported alongside the position. Only used on the error path.

use toml::de::{DeTable, DeValue};

/// The key path at `offset` in `text`, if the document parses and a key covers it.
pub(crate) fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let document = DeTable::parse(text).ok()?;
    find_in_table(document.get_ref(), offset, "")
}

/// Joins a parent path and a key: `server` + `listen` = `server.listen`.
fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Searches a table's entries; children first, so the innermost match wins.
fn find_in_table(table: &DeTable<'_>, offset: usize, parent: &str) -> Option<String> {
    for (key, value) in table {
        let path = join(parent, key.get_ref());
        if let Some(inner) = find_in_value(value.get_ref(), offset, &path) {
            return Some(inner);
        }
        if key.span().contains(&offset) || value.span().contains(&offset) {
            return Some(path);
        }
    }
    None
}

/// Searches inside a value (tables and arrays); scalars have nothing inside.
fn find_in_value(value: &DeValue<'_>, offset: usize, path: &str) -> Option<String> {
    match value {
        DeValue::Table(table) => find_in_table(table, offset, path),
        DeValue::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let item_path = format!("{path}[{i}]");
            find_in_value(item.get_ref(), offset, &item_path).or_else(|| {
                // Only an inline item's span is its own; a `[[table]]` item's span may be the
                // header alone, which still identifies it.
                item.span().contains(&offset).then_some(item_path)
            })
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_at(text: &str, needle: &str) -> Option<String> {
        let offset = text.find(needle).expect("needle in text");
        key_path_at(text, offset)
    }

    #[test]
    fn a_key_in_a_standard_table_is_found() {
        let text = "[server]\nlisten = [\"::1\"]\nbogus-key = 1\n";
        assert_eq!(path_at(text, "bogus").as_deref(), Some("server.bogus-key"));
    }

    #[test]
    fn a_key_in_an_array_of_tables_gets_its_index() {
        let text = "[[forward-zone]]\nname = \"a\"\n[[forward-zone]]\nname = \"b\"\n\
                    health-check = { mode = \"lazy\", bogus-key = 1 }\n";
        assert_eq!(
            path_at(text, "bogus").as_deref(),
            Some("forward-zone[1].health-check.bogus-key")
        );
    }

    #[test]
    fn a_bad_value_inside_an_array_is_found() {
        let text = "[server]\nlisten = [\"::1\", true]\n";
        assert_eq!(path_at(text, "true").as_deref(), Some("server.listen[1]"));
    }

    #[test]
    fn text_that_does_not_parse_has_no_path() {
        assert_eq!(key_path_at("[server\n", 3), None);
    }
}
