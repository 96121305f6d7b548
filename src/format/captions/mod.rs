//! Caption files: WebVTT and SRT read into cues (every fault named by its
//! line), and the one WebVTT form they are served in.
//!
//! | file | job |
//! | --- | --- |
//! | `lines` | bytes to numbered lines (BOM, CR/LF/CRLF, UTF-8) |
//! | `time` | cue timestamps, read and written |
//! | `parse` | the blocks of a WebVTT or SRT file |
//! | `webvtt` | the served form: normalised WebVTT; a cue's plain text |
//! | `track` | a track's language (BCP 47) and kind |
//!
//! The served form is WebVTT in NFC with LF line ends, timestamps always
//! with hours and milliseconds, cue settings and identifiers kept, STYLE
//! and REGION blocks kept, comments (NOTE) dropped. SRT cue numbers become
//! cue identifiers; SRT's markup that WebVTT lacks (`<font>`, `{\an8}`) is
//! dropped, keeping its text.

mod lines;
mod parse;
mod time;
mod track;
mod webvtt;

pub use time::format_timestamp;
pub use track::{TrackKind, language};

/// The formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptionFormat {
    WebVtt,
    Srt,
}

impl CaptionFormat {
    /// Its name in records and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            CaptionFormat::WebVtt => "webvtt",
            CaptionFormat::Srt => "srt",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [CaptionFormat::WebVtt, CaptionFormat::Srt].into_iter().find(|format| format.as_str() == text)
    }
}

/// One cue: shown from `start_ms` until `end_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    /// The cue identifier (an SRT cue's number).
    pub id: Option<String>,
    pub start_ms: u64,
    pub end_ms: u64,
    /// WebVTT cue settings (`align:start line:0`), spaces normalised.
    pub settings: String,
    /// The cue text as WebVTT cue text, lines joined by `\n`.
    pub text: String,
    /// Line of the file its timing is on.
    pub line: usize,
}

/// What a cue shows and when, as plain text (what search indexes and
/// finds moments in).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TimedText {
    #[serde(rename = "s")]
    pub start_ms: u64,
    #[serde(rename = "e")]
    pub end_ms: u64,
    #[serde(rename = "t")]
    pub text: String,
}

/// A caption file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captions {
    pub format: CaptionFormat,
    /// STYLE and REGION blocks of a WebVTT file, as written.
    pub blocks: Vec<String>,
    pub cues: Vec<Cue>,
}

/// Why a caption file was refused: what, and on which line (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct CaptionError {
    pub line: usize,
    pub problem: String,
}

impl CaptionError {
    fn at(line: usize, problem: impl Into<String>) -> Self {
        Self { line, problem: problem.into() }
    }
}

/// Reads a WebVTT or SRT file (which one is told by its first line).
pub fn read(bytes: &[u8]) -> Result<Captions, CaptionError> {
    let lines = lines::split(bytes)?;
    parse::captions(&lines)
}

impl Captions {
    /// The served form (see the module's doc).
    pub fn to_webvtt(&self) -> String {
        webvtt::write(self)
    }

    /// Every cue as plain text, in file order; cues without words left out.
    pub fn timed_texts(&self) -> Vec<TimedText> {
        self.cues
            .iter()
            .map(|cue| TimedText { start_ms: cue.start_ms, end_ms: cue.end_ms, text: cue.plain_text() })
            .filter(|timed| !timed.text.trim().is_empty())
            .collect()
    }

    /// When the last cue ends.
    pub fn end_ms(&self) -> u64 {
        self.cues.iter().map(|cue| cue.end_ms).max().unwrap_or(0)
    }
}

impl Cue {
    /// The words shown, without markup, entities decoded, in NFC: what
    /// search reads.
    pub fn plain_text(&self) -> String {
        webvtt::plain_text(&self.text)
    }
}

#[cfg(test)]
mod tests;
