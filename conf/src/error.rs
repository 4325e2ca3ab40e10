//! The one error type of the crate: every problem found in one configuration file.
//!
//! Loading stops at the first TOML syntax or type error (serde cannot go on past it), but
//! validation goes through the whole file and reports every problem at once, so an operator
//! fixes a config in one round instead of one error per `check-config` run. Each line reads
//!
//! ```text
//! sekisho.toml: forward-zone[1].forward-addr[0]: "1.2.3.4@99999": port out of range
//! sekisho.toml:12:1: forward-zone[0].health-check: unknown field `bogus-key`, expected one of ...
//! ```
//!
//! that is: file, position (for parse errors), key path, quoted bad value, reason.

use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key path, as written in the file: `forward-zone[0].health-check.threshold`.
    /// Empty when the problem is with the file as a whole (unreadable, bad TOML syntax).
    pub path: String,
    /// What is wrong, starting with the bad value when there is one:
    /// `"1.2.3.4@99999": port out of range`.
    pub message: String,
    /// 1-based line of the problem, known for TOML parse and type errors.
    pub line: Option<usize>,
    /// 1-based column (in characters) of the problem, known with `line`.
    pub column: Option<usize>,
}

impl Problem {
    /// A problem at a key path, without a file position.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
            line: None,
            column: None,
        }
    }
}

impl fmt::Display for Problem {
    /// Formats as `path: message`, or just `message` when the path is empty. The file name
    /// and position are added by [`ConfigError`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Everything wrong with one configuration file. `Display` prints one problem per line,
/// each prefixed with the file name (and `:line:column` where known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problems were found in, as given to the loader.
    origin: PathBuf,
    /// The problems, in file order as far as validation can tell; never empty.
    problems: Vec<Problem>,
}

impl ConfigError {
    /// Builds an error from at least one problem.
    pub(crate) fn new(origin: &Path, problems: Vec<Problem>) -> Self {
        debug_assert!(!problems.is_empty(), "a ConfigError needs a problem");
        ConfigError {
            origin: origin.to_path_buf(),
            problems,
        }
    }

    /// Every problem found, in the order reported.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The configuration file the problems belong to.
    pub fn origin(&self) -> &Path {
        &self.origin
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}", self.origin.display())?;
            if let (Some(line), Some(column)) = (problem.line, problem.column) {
                write!(f, ":{line}:{column}")?;
            }
            write!(f, ": {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Turns a byte offset into a 1-based line and column (counted in characters).
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    // Step back to a character boundary so slicing cannot panic on a bad span.
    let offset = (0..=offset)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_prints_one_problem_per_line_with_file_and_position() {
        let mut parse = Problem::new("server", "unknown field `x`");
        parse.line = Some(3);
        parse.column = Some(1);
        let err = ConfigError::new(
            Path::new("config.toml"),
            vec![
                Problem::new(
                    "forward-zone[1].forward-addr[0]",
                    "\"1.2.3.4@99999\": port out of range",
                ),
                parse,
                Problem::new("", "cannot read the file"),
            ],
        );
        assert_eq!(
            err.to_string(),
            "config.toml: forward-zone[1].forward-addr[0]: \"1.2.3.4@99999\": port out of range\n\
             config.toml:3:1: server: unknown field `x`\n\
             config.toml: cannot read the file"
        );
    }

    #[test]
    fn line_column_counts_from_one_in_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 9), (2, 3));
        // Inside the two-byte é: stepped back to its start.
        assert_eq!(line_column(text, 8), (2, 2));
        assert_eq!(line_column(text, 1000), (3, 1));
    }
}
