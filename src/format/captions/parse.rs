//! The blocks of a caption file: which format it is (told by its first
//! line), then its cues, each fault named by its line.

use super::{CaptionError, CaptionFormat, Captions, Cue, lines::Line, time, webvtt};

const ARROW: &str = "-->";
const EXAMPLE_VTT: &str = "`00:00:01.000 --> 00:00:02.500`";
const EXAMPLE_SRT: &str = "`00:00:01,000 --> 00:00:02,500`";

pub fn captions(lines: &[Line<'_>]) -> Result<Captions, CaptionError> {
    let Some(first) = lines.first() else {
        return Err(CaptionError::at(1, "the file is empty: a WebVTT file starts with `WEBVTT`"));
    };
    if starts_with_word(first.text, "WEBVTT") {
        return webvtt_file(lines);
    }
    if looks_like_srt(lines) {
        return srt_file(lines);
    }
    Err(CaptionError::at(
        first.number,
        format!(
            "no `WEBVTT` header: a WebVTT file starts with the line `WEBVTT`; an SRT file with a cue number, then \
             a timing line such as {EXAMPLE_SRT}"
        ),
    ))
}

/// `text` is `word`, or `word` and then a space or tab and anything.
fn starts_with_word(text: &str, word: &str) -> bool {
    text.strip_prefix(word).is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// An SRT file's first cue: a number line then a timing line, or a timing
/// line, with a comma before the milliseconds (a WebVTT file without its
/// header has a dot there, and is refused as WebVTT).
fn looks_like_srt(lines: &[Line<'_>]) -> bool {
    let mut texts = lines.iter().map(|line| line.text.trim()).skip_while(|text| text.is_empty());
    let Some(first) = texts.next() else { return false };
    let timing = if first.bytes().all(|b| b.is_ascii_digit()) { texts.next().unwrap_or_default() } else { first };
    timing.split_once(ARROW).is_some_and(|(start, _)| start.contains(','))
}

/// Runs of non-blank lines.
fn blocks<'l, 'a>(lines: &'l [Line<'a>]) -> impl Iterator<Item = &'l [Line<'a>]> {
    lines.split(Line::is_blank).filter(|block| !block.is_empty())
}

fn webvtt_file(lines: &[Line<'_>]) -> Result<Captions, CaptionError> {
    let mut captions = Captions { format: CaptionFormat::WebVtt, blocks: Vec::new(), cues: Vec::new() };
    for (index, block) in blocks(lines).enumerate() {
        // The header block: `WEBVTT` and its header lines, then (leniently,
        // as browsers read it) a cue that follows without a blank line.
        let block = if index == 0 {
            match block.iter().position(|line| line.text.contains(ARROW)) {
                Some(timing) => &block[timing.saturating_sub(1).max(1)..],
                None => continue,
            }
        } else {
            block
        };
        let first = block[0];
        if starts_with_word(first.text, "NOTE") {
            continue;
        }
        if (starts_with_word(first.text, "STYLE") || starts_with_word(first.text, "REGION"))
            && !block.iter().any(|line| line.text.contains(ARROW))
        {
            if !captions.cues.is_empty() {
                return Err(CaptionError::at(first.number, "STYLE and REGION blocks must come before the first cue"));
            }
            captions.blocks.push(block.iter().map(|line| line.text.trim_end()).collect::<Vec<_>>().join("\n"));
            continue;
        }
        captions.cues.push(cue(block, CaptionFormat::WebVtt)?);
    }
    Ok(captions)
}

fn srt_file(lines: &[Line<'_>]) -> Result<Captions, CaptionError> {
    let mut captions = Captions { format: CaptionFormat::Srt, blocks: Vec::new(), cues: Vec::new() };
    for block in blocks(lines) {
        let mut cue = cue(block, CaptionFormat::Srt)?;
        cue.id = cue.id.map(|id| id.trim().to_owned());
        cue.text = cue.text.lines().map(webvtt::from_srt_markup).collect::<Vec<_>>().join("\n");
        captions.cues.push(cue);
    }
    Ok(captions)
}

/// One cue block: an identifier (an SRT number) or not, the timing line,
/// the text.
fn cue(block: &[Line<'_>], format: CaptionFormat) -> Result<Cue, CaptionError> {
    let example = if format == CaptionFormat::Srt { EXAMPLE_SRT } else { EXAMPLE_VTT };
    let (id, timing) = if block[0].text.contains(ARROW) {
        (None, block[0])
    } else {
        match block.get(1) {
            Some(timing) if timing.text.contains(ARROW) => (Some(block[0].text.to_owned()), *timing),
            _ => {
                let after = if format == CaptionFormat::Srt { "its number" } else { "an optional identifier" };
                return Err(CaptionError::at(
                    block.get(1).unwrap_or(&block[0]).number,
                    format!("expected a cue's timing line such as {example} (after {after}), found {:?}", {
                        block.get(1).unwrap_or(&block[0]).text.chars().take(40).collect::<String>()
                    }),
                ));
            }
        }
    };
    if format == CaptionFormat::Srt && id.as_deref().is_some_and(|id| !id.trim().bytes().all(|b| b.is_ascii_digit())) {
        return Err(CaptionError::at(block[0].number, "an SRT cue starts with its number"));
    }
    let (start_ms, end_ms, settings) = timing_line(timing, format, example)?;
    let text_lines = &block[if id.is_some() { 2 } else { 1 }..];
    if let Some(line) = text_lines.iter().find(|line| line.text.contains(ARROW)) {
        return Err(CaptionError::at(
            line.number,
            format!("a cue's text contains `{ARROW}`: put a blank line before the next cue"),
        ));
    }
    let text = text_lines.iter().map(|line| line.text.trim_end()).collect::<Vec<_>>().join("\n");
    Ok(Cue { id, start_ms, end_ms, settings, text, line: timing.number })
}

fn timing_line(line: Line<'_>, format: CaptionFormat, example: &str) -> Result<(u64, u64, String), CaptionError> {
    let (start, rest) = line.text.split_once(ARROW).expect("a timing line has an arrow");
    let rest = rest.trim_start();
    let (end, settings) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
    let read = |text: &str, which: &str| {
        time::parse(text.trim(), format).map_err(|why| {
            CaptionError::at(
                line.number,
                format!("the {which} time {:?} is not a timestamp: {why} (write it as {example})", {
                    text.trim().chars().take(20).collect::<String>()
                }),
            )
        })
    };
    let (start_ms, end_ms) = (read(start, "start")?, read(end, "end")?);
    if end_ms <= start_ms {
        return Err(CaptionError::at(
            line.number,
            format!(
                "the cue's end ({}) is not after its start ({})",
                time::format_timestamp(end_ms),
                time::format_timestamp(start_ms)
            ),
        ));
    }
    // SRT has no cue settings; what follows its end time (old screen
    // coordinates, `X1:…`) is not one.
    let settings = match format {
        CaptionFormat::WebVtt => settings.split_whitespace().collect::<Vec<_>>().join(" "),
        CaptionFormat::Srt => String::new(),
    };
    Ok((start_ms, end_ms, settings))
}
