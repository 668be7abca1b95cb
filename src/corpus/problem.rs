//! A problem found in the corpus, named by file and line for the people who write it.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Not a fault: drafts and withdrawn entries, which are simply not served.
    Note,
    /// Servable today, but needs attention soon.
    Warning,
    /// Not served (entry-level) or not loadable (corpus-level).
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line, when the problem has one.
    pub line: Option<usize>,
    pub severity: Severity,
    pub message: String,
}

impl Problem {
    pub fn new(
        file: &Path,
        line: Option<usize>,
        severity: Severity,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            severity,
            message: message.into(),
        }
    }

    pub fn error(file: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Self::new(file, line, Severity::Error, message)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        match self.line {
            Some(line) => write!(
                f,
                "{}:{line}: {severity}: {}",
                self.file.display(),
                self.message
            ),
            None => write!(f, "{}: {severity}: {}", self.file.display(), self.message),
        }
    }
}

/// 1-based line number of a byte offset in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line a TOML parse error points at, if it points anywhere.
pub(crate) fn toml_error_line(text: &str, err: &toml::de::Error) -> Option<usize> {
    err.span().map(|span| line_of(text, span.start))
}

/// A TOML error message without the snippet toml prints (we give file and line ourselves).
pub(crate) fn toml_error_message(err: &toml::de::Error) -> String {
    err.message().trim().to_string()
}
