//! How a command's result reaches its reader: text for people, one JSON
//! document for scripts. Each command returns a [`Report`]; only this file
//! prints it.

use crate::{cli::Format, fail::Explained};
use serde::Serialize;

/// A command's result. Its JSON form is its serde form: messages from the
/// server in the proto3 JSON mapping (camelCase names, 64-bit integers as
/// strings), the command's own fields beside them in camelCase.
pub trait Report: Serialize {
    /// The text form, ANSI styles allowed (stripped when stdout is not a
    /// terminal).
    fn text(&self, out: &mut String) -> std::fmt::Result;

    /// A remark for the person, on stderr in text mode, so that stdout holds
    /// only the result (`curl "$(archivectl url ...)"`).
    fn aside(&self) -> Option<String> {
        None
    }
}

/// Prints `report` on stdout in `format`.
pub fn emit(format: Format, report: &impl Report) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string(report)?),
        Format::Text => {
            let mut text = String::new();
            report.text(&mut text)?;
            anstream::print!("{text}");
            if let Some(aside) = report.aside() {
                eprintln!("{aside}");
            }
        }
    }
    Ok(())
}

/// A failure on stderr: `error: …` and a hint, or `{"error": {...}}`.
pub fn emit_failure(format: Format, failure: &Explained) {
    match format {
        Format::Json => eprintln!("{}", serde_json::json!({ "error": failure })),
        Format::Text if failure.hint.is_empty() => eprintln!("error: {}", failure.message),
        Format::Text => eprintln!("error: {}\nhint: {}", failure.message, failure.hint),
    }
}

/// A time as RFC 3339 at `offset_seconds` east of UTC (Vietnam time when
/// the offset is not valid).
pub fn show_time(timestamp: Option<&pbjson_types::Timestamp>, offset_seconds: i32) -> String {
    use chrono::{DateTime, FixedOffset, Utc};
    let offset = FixedOffset::east_opt(offset_seconds).unwrap_or_else(vietnam);
    timestamp
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.with_timezone(&offset).to_rfc3339())
        .unwrap_or_default()
}

pub fn vietnam() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(archive::format::export::VIETNAM_UTC_OFFSET_SECONDS).expect("valid offset")
}
