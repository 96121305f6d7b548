use super::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/captions/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn refused(text: &str) -> CaptionError {
    read(text.as_bytes()).expect_err(text)
}

#[test]
fn srt_with_bom_crlf_and_decomposed_text_is_served_as_webvtt() {
    let captions = read(&fixture("vi-bom-crlf.srt")).unwrap();
    assert_eq!(captions.format, CaptionFormat::Srt);
    let timings: Vec<(u64, u64)> = captions.cues.iter().map(|cue| (cue.start_ms, cue.end_ms)).collect();
    assert_eq!(timings, [(1_200, 4_750), (5_000, 7_015), (62_003, 3_600_000)], "to the millisecond");
    assert_eq!(captions.end_ms(), 3_600_000);
    assert_eq!(
        captions.to_webvtt(),
        "WEBVTT\n\n\
         1\n00:00:01.200 --> 00:00:04.750\nHội nghị giao ban trực tuyến\n<i>toàn tỉnh Thái Bình</i>\n\n\
         2\n00:00:05.000 --> 00:00:07.015\nChi bộ Q&amp;A\n\n\
         3\n00:01:02.003 --> 01:00:00.000\nĐồng chí Bí thư phát biểu &lt;3\n\n"
    );
    assert_eq!(captions.cues[1].plain_text(), "Chi bộ Q&A");
    let timed = captions.timed_texts();
    assert_eq!(
        timed[0],
        TimedText {
            start_ms: 1_200, end_ms: 4_750, text: "Hội nghị giao ban trực tuyến toàn tỉnh Thái Bình".into()
        }
    );
    assert_eq!(captions.cues[2].plain_text(), "Đồng chí Bí thư phát biểu <3");
}

#[test]
fn webvtt_keeps_identifiers_settings_and_styles_and_drops_comments() {
    let captions = read(&fixture("vi-settings.vtt")).unwrap();
    assert_eq!(captions.format, CaptionFormat::WebVtt);
    assert_eq!(
        captions.to_webvtt(),
        "WEBVTT\n\n\
         STYLE\n::cue { color: yellow }\n\n\
         intro\n00:00:01.200 --> 00:00:04.750 align:start line:0\n\
         Hội nghị giao ban trực tuyến\n  <v Phạm Ngọc>toàn tỉnh Thái Bình\n\n\
         00:00:05.000 --> 00:00:07.015 position:10%,line-left size:35%\nChi bộ &amp; Đảng bộ\n\n"
    );
    assert_eq!(captions.cues[0].plain_text(), "Hội nghị giao ban trực tuyến   toàn tỉnh Thái Bình");
    assert_eq!(captions.cues[0].line, 11);
    // The served form reads back as itself.
    let again = read(captions.to_webvtt().as_bytes()).unwrap();
    assert_eq!(again.to_webvtt(), captions.to_webvtt());
}

#[test]
fn each_fault_is_named_with_its_line() {
    let cases = [
        ("1\n00:00:01.000 --> 00:00:02.000\nhi\n", 1, "no `WEBVTT` header"),
        ("", 1, "empty"),
        ("Xin chào\n", 1, "no `WEBVTT` header"),
        ("WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nhi\n", 3, "end (00:00:01.000) is not after its start"),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:01.000\nhi\n", 3, "is not after"),
        ("WEBVTT\n\n00:00:1.000 --> 00:00:02.000\nhi\n", 3, "start time \"00:00:1.000\" is not a timestamp"),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02,000\nhi\n", 3, "end time \"00:00:02,000\""),
        ("WEBVTT\n\nid\njust text\n", 4, "expected a cue's timing line"),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na\n00:00:03.000 --> 00:00:04.000\n", 5, "blank line"),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na\n\nSTYLE\n::cue {}\n", 6, "before the first cue"),
        ("1\n00:00:01,000 --> 00:00:02,000\nhi\n\n2\n00:00:03,000 --> 00:00:0,000\n", 6, "end time"),
        ("1\n00:00:01,000 --> 00:00:02,000\nhi\n\nsecond\n00:00:03,000 --> 00:00:04,000\n", 5, "its number"),
        ("WEBVTTX\n", 1, "no `WEBVTT` header"),
    ];
    for (text, line, says) in cases {
        let error = refused(text);
        assert_eq!(error.line, line, "{text:?}: {error}");
        assert!(error.to_string().contains(says), "{text:?}: {error}");
        assert!(error.to_string().starts_with(&format!("line {line}: ")), "{error}");
    }
}

#[test]
fn a_header_followed_by_a_cue_without_a_blank_line_is_read_as_browsers_read_it() {
    let captions = read(b"WEBVTT\n00:00:01.000 --> 00:00:02.000\nhi\n").unwrap();
    assert_eq!(captions.cues.len(), 1);
    assert_eq!(captions.cues[0].text, "hi");
    let empty = read(b"WEBVTT\n").unwrap();
    assert!(empty.cues.is_empty());
    assert_eq!(empty.to_webvtt(), "WEBVTT\n\n");
}
