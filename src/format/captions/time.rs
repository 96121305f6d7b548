//! Cue timestamps. WebVTT: `[hh:]mm:ss.ttt` (hours of two or more digits,
//! minutes and seconds below 60, exactly three digits of milliseconds).
//! SRT: `hh:mm:ss,ttt`, its hours of any number of digits; a `.` before
//! the milliseconds is read too, as players read it.

use super::CaptionFormat;

/// Milliseconds from the start of the clip, or why `text` is no timestamp
/// of `format` (a phrase for a message).
pub fn parse(text: &str, format: CaptionFormat) -> Result<u64, &'static str> {
    let (clock, millis) = match format {
        CaptionFormat::WebVtt => text.split_once('.').ok_or("it has no `.` before the milliseconds")?,
        CaptionFormat::Srt => text.split_once([',', '.']).ok_or("it has no `,` before the milliseconds")?,
    };
    if millis.len() != 3 || !all_digits(millis) {
        return Err("its milliseconds are not three digits");
    }
    let parts: Vec<&str> = clock.split(':').collect();
    let (hours, minutes, seconds) = match (format, parts.as_slice()) {
        (_, [hours, minutes, seconds]) => (*hours, *minutes, *seconds),
        (CaptionFormat::WebVtt, [minutes, seconds]) => ("0", *minutes, *seconds),
        _ => return Err("it is not hours:minutes:seconds"),
    };
    let hours_ok = all_digits(hours) && (format == CaptionFormat::Srt || parts.len() == 2 || hours.len() >= 2);
    if !hours_ok || hours.len() > 6 {
        return Err("its hours are not two or more digits");
    }
    let sixty = |part: &str| (part.len() == 2 && all_digits(part)).then(|| part.parse::<u64>().ok()).flatten();
    let (Some(minutes), Some(seconds)) = (sixty(minutes), sixty(seconds)) else {
        return Err("its minutes and seconds are not two digits each");
    };
    if minutes > 59 || seconds > 59 {
        return Err("its minutes or seconds are over 59");
    }
    let hours: u64 = hours.parse().map_err(|_| "its hours are not a number")?;
    let millis: u64 = millis.parse().map_err(|_| "its milliseconds are not a number")?;
    Ok(((hours * 60 + minutes) * 60 + seconds) * 1000 + millis)
}

fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// `hh:mm:ss.ttt`, as the served WebVTT writes every timestamp.
pub fn format_timestamp(ms: u64) -> String {
    let (seconds, millis) = (ms / 1000, ms % 1000);
    format!("{:02}:{:02}:{:02}.{millis:03}", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use CaptionFormat::{Srt, WebVtt};

    #[test]
    fn timestamps_of_each_format_read_to_the_millisecond() {
        assert_eq!(parse("00:00:01.500", WebVtt), Ok(1_500));
        assert_eq!(parse("01:02.003", WebVtt), Ok(62_003));
        assert_eq!(parse("100:00:00.000", WebVtt), Ok(360_000_000));
        assert_eq!(parse("01:02:03,004", Srt), Ok(3_723_004));
        assert_eq!(parse("1:02:03,004", Srt), Ok(3_723_004));
        assert_eq!(parse("01:02:03.004", Srt), Ok(3_723_004));
        assert_eq!(format_timestamp(3_723_004), "01:02:03.004");
        assert_eq!(format_timestamp(0), "00:00:00.000");
        assert_eq!(format_timestamp(360_000_000), "100:00:00.000");
    }

    #[test]
    fn malformed_timestamps_say_what_is_wrong() {
        for (text, format) in [
            ("00:00:1.000", WebVtt),
            ("00:00:01,000", WebVtt),
            ("00:00:01.00", WebVtt),
            ("0:00:01.000", WebVtt),
            ("00:60:00.000", WebVtt),
            ("00:00:61.000", Srt),
            ("01:02", Srt),
            ("01:02,000", Srt),
            ("aa:bb:cc,ddd", Srt),
            ("", WebVtt),
        ] {
            assert!(parse(text, format).is_err(), "{text:?} read as {format:?}");
        }
    }
}
