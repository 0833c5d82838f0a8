//! Text files as batches of texts: one text per line, for the string input
//! of a model (`tensorweave predict MODEL --text FILE`).

use std::path::Path;

use tensorweave_core::{Error, MemoryBudget, Result};

use crate::limits::read_file;

/// Reads a UTF-8 file as one text per line, within `budget`. A line break
/// (`\n`, or `\r\n`) ends a text; a last line break does not start an empty
/// text, and an empty file holds no text. Other bytes are kept as they are.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("tw-texts-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("reviews.txt");
/// std::fs::write(&path, "Great film!\r\nÇa va…\n\n").unwrap();
/// let texts = tensorweave_io::texts::read_texts(&path, &Default::default()).unwrap();
/// assert_eq!(texts, ["Great film!", "Ça va…", ""]);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn read_texts(path: &Path, budget: &MemoryBudget) -> Result<Vec<String>> {
    let bytes = read_file(path, "text file", budget)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::Input(format!(
            "text file {} is not UTF-8 (invalid byte at offset {}); save it as UTF-8",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    Ok(split_lines(&text))
}

/// The lines of `text` as [`read_texts`] splits them.
pub fn split_lines(text: &str) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    text.strip_suffix('\n')
        .unwrap_or(text)
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::split_lines;

    #[test]
    fn lines_split_as_documented() {
        assert!(split_lines("").is_empty());
        assert_eq!(split_lines("\n"), [""]);
        assert_eq!(split_lines("a"), ["a"]);
        assert_eq!(split_lines("a\r\nb\n"), ["a", "b"]);
        assert_eq!(split_lines("a\n\nb"), ["a", "", "b"]);
        assert_eq!(
            split_lines("tab\there \u{2028} x"),
            ["tab\there \u{2028} x"]
        );
    }
}
