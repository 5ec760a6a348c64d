//! [`PipelineError`]: what is wrong with a pipeline, for the API's 400 answers.

use std::fmt;

/// A pipeline that cannot be accepted. The intake wraps it in Datadog's error shape
/// `{"error": {"code", "message", "details"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineError {
    /// The first problem, readable on its own.
    pub message: String,
    /// Every problem found, each naming where it is (`processors[2]` ...).
    pub details: Vec<String>,
}

impl PipelineError {
    /// An error with one problem.
    pub fn new(message: impl Into<String>) -> PipelineError {
        let message = message.into();
        PipelineError { details: vec![message.clone()], message }
    }

    /// An error from several problems (`None` when there are none).
    pub fn from_problems(problems: Vec<String>) -> Option<PipelineError> {
        let message = problems.first()?.clone();
        Some(PipelineError { message, details: problems })
    }
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if self.details.len() > 1 {
            write!(f, " (and {} more)", self.details.len() - 1)?;
        }
        Ok(())
    }
}

impl std::error::Error for PipelineError {}
