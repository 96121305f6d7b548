//! The importer against the seed, the export variants, every Unicode form
//! and property tests (round trip, any text, any mix of forms).

use super::*;

const SEED: &str = include_str!("../../../tests/fixtures/article-2019-09-30-giao-ban-truc-tuyen.txt");

#[test]
fn the_seed_article_parses_with_every_field_right() {
    let parsed = parse(SEED).expect("seed parses");
    assert_eq!(parsed.title, "Giao ban trực tuyến Toàn quốc về công tác tổ chức xây dựng Đảng 9 tháng 2019");
    assert_eq!(parsed.publish_time.to_rfc3339(), "2019-09-30T17:20:59+07:00");
    assert_eq!(parsed.view_count, 89);
    assert_eq!(parsed.author, "Phạm Ngọc");
    assert!(parsed.keywords.is_empty());
    assert_eq!(parsed.video_references, ["93019_OHAI1.mp4"]);
    // The body is the exact slice of the export from the first paragraph
    // to the end of the last one's line, trailing spaces included.
    let start = SEED.find("Chiều 30-9").expect("first paragraph");
    let last = SEED.find("vững mạnh.").expect("last paragraph");
    let end = last + SEED[last..].find('\n').expect("line end");
    assert_eq!(parsed.body, &SEED[start..end]);
    assert!(parsed.body.contains("\n\nVideo: 93019_OHAI1.mp4\n\n"));
}

#[test]
fn crlf_export_with_two_videos_and_keywords() {
    let text = include_str!("../../../tests/fixtures/exports/crlf-two-videos.txt");
    assert!(text.contains("\r\n"));
    let parsed = parse(text).expect("parses");
    assert_eq!(parsed.publish_time.to_rfc3339(), "2019-10-06T08:05:00+07:00");
    assert_eq!(parsed.view_count, 1234);
    assert_eq!(parsed.keywords, ["Thái Bình", "sinh hoạt chi bộ"]);
    assert_eq!(parsed.video_references.len(), 2);
    assert!(!parsed.body.contains('\r'));
    assert!(!parsed.author.is_empty());
}

#[test]
fn export_without_keywords_or_video() {
    let parsed = parse(include_str!("../../../tests/fixtures/exports/no-keywords-no-video.txt")).expect("parses");
    assert_eq!(parsed.publish_time.to_rfc3339(), "2019-10-05T23:59:59+07:00");
    assert_eq!(parsed.view_count, 0);
    assert!(parsed.keywords.is_empty());
    assert!(parsed.video_references.is_empty());
    assert!(!parsed.body.is_empty());
}

#[test]
fn clip_names_are_file_names_never_paths() {
    for good in ["93019_OHAI1.mp4", "Thái Bình.mp4", "a..b.mp4", ".hidden.mp4"] {
        assert_eq!(check_clip_name(good), Ok(()), "{good}");
    }
    let long = "a".repeat(MAX_CLIP_NAME_BYTES + 1);
    for bad in
        ["", ".", "..", "../../secret", "/etc/archived/tokens.toml", "a/b.mp4", "..\\x", "C:x.mp4", "a\u{0}b", &long]
    {
        assert!(check_clip_name(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn malformed_exports_name_the_line() {
    let bad_date = parse(include_str!("../../../tests/fixtures/exports/bad-date.txt")).unwrap_err();
    assert_eq!(bad_date.line, 3, "{bad_date}");
    let wrong_weekday = parse("Tiêu đề\n\nThứ 3, 30.09.2019 | 17:20:59\n89 lượt xem\n\nNội dung.\n").unwrap_err();
    assert_eq!(wrong_weekday.line, 3);
    assert_eq!(
        wrong_weekday.message, "`Thứ 3` does not match 30.09.2019, which is a Thứ 2",
        "named as the export does"
    );
    // Quoted as written: a decomposed (NFD) `Thứ` is not shown as Rust escapes.
    let nfd = "Thu\u{31b}\u{301} 9, 30.09.2019 | 17:20:59";
    let unknown = parse(&format!("Tiêu đề\n\n{nfd}\n89 lượt xem\n\nNội dung.\n")).unwrap_err();
    assert!(unknown.message.starts_with("`Thu\u{31b}\u{301} 9` is not a weekday"), "{unknown}");
    assert!(!unknown.message.contains("\\u{"), "{unknown}");
    assert_eq!(quoted("a\tb"), "`a\\tb`", "control characters stay visible");
    let bad_views = parse("Tiêu đề\n\nThứ 2, 30.09.2019 | 17:20:59\nnhiều lượt xem\n").unwrap_err();
    assert_eq!(bad_views.line, 4);
    assert_eq!(parse("  \n \n").unwrap_err().line, 1);
    assert_eq!(parse("Chỉ có tiêu đề\n").unwrap_err().line, 2);
    let not_utf8 = decode(b"Ti\xeau\nx").unwrap_err();
    assert_eq!(not_utf8.line, 1);
    assert_eq!(decode(b"ok\n\xff").unwrap_err().line, 2);
}

fn nfd(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfd().collect()
}

use crate::format::forms::nfc;

const TWO_VIDEOS: &str = include_str!("../../../tests/fixtures/exports/crlf-two-videos.txt");

#[test]
fn an_nfd_export_parses_and_keeps_its_text_as_sent() {
    let decomposed = nfd(SEED);
    assert_ne!(decomposed, SEED, "the seed has precomposed letters");
    let (nfc_parsed, nfd_parsed) = (parse(SEED).unwrap(), parse(&decomposed).expect("an NFD copy parses"));
    assert_eq!((nfd_parsed.publish_time, nfd_parsed.view_count), (nfc_parsed.publish_time, nfc_parsed.view_count));
    assert_eq!(nfd_parsed.title, nfd(&nfc_parsed.title), "the title as sent, NFD");
    assert_eq!(nfd_parsed.author, nfd(&nfc_parsed.author));
    assert_eq!(nfd_parsed.body, nfd(&nfc_parsed.body), "the body byte for byte");
    assert_eq!(nfd_parsed.video_references, nfc_parsed.video_references);
}

/// The case that imported without error before: the keyword line alone
/// decomposed was taken as the byline, the byline pushed into the body.
#[test]
fn a_keyword_line_in_another_form_is_still_the_keyword_line() {
    let expected = parse(TWO_VIDEOS).unwrap();
    for label in [nfd("Từ khóa"), "Từ khoá".to_owned(), nfd("Từ khoá"), "TỪ KHÓA".to_owned()] {
        let text = TWO_VIDEOS.replace("Từ khóa", &label);
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.keywords, expected.keywords, "{label:?}");
        assert_eq!((parsed.author.as_str(), &parsed.body), (expected.author.as_str(), &expected.body), "{label:?}");
    }
    let views = parse(&SEED.replace("89 lượt xem", &nfd("89 lượt xem"))).unwrap();
    assert_eq!(views.view_count, 89);
    let weekday = parse(&SEED.replace("Thứ 2,", &nfd("thứ hai,"))).unwrap();
    assert_eq!(weekday.publish_time.to_rfc3339(), "2019-09-30T17:20:59+07:00");
}

/// An export as the portal writes it: the inverse of `parse`.
fn render(export: &ParsedExport) -> String {
    let time = export.publish_time;
    let mut text = format!(
        "{}\n\n{}, {} | {}\n{} lượt xem\n\n{}\n\n {}\n",
        export.title,
        weekday_name(time.weekday()),
        time.format("%d.%m.%Y"),
        time.format("%H:%M:%S"),
        export.view_count,
        export.body,
        export.author
    );
    if !export.keywords.is_empty() {
        text += &format!("\n  •  Từ khóa: {}\n", export.keywords.join(", "));
    }
    text
}

/// Vietnamese words: letters with every diacritic the language uses.
const WORD: &str = "[a-zA-ZàáảãạăắằẳẵặâấầẩẫậđèéẻẽẹêếềểễệìíỉĩịòóỏõọôốồổỗộơớờởỡợùúủũụưứừửữựỳýỷỹỵĐ]{1,9}";

fn words(count: std::ops::Range<usize>) -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::strategy::Strategy;
    proptest::collection::vec(WORD, count).prop_map(|words| words.join(" "))
}

proptest::proptest! {
    /// Import round trip: any article written in the format reads back
    /// with the same title, time, views, body, byline, keywords and clips.
    #[test]
    fn what_the_portal_writes_reads_back_the_same(
        title in words(1..12),
        seconds in 946_684_800i64..1_900_000_000,
        view_count in 0i64..1_000_000_000,
        paragraphs in proptest::collection::vec((words(1..40), proptest::option::of("[A-Z0-9_]{1,12}")), 1..6),
        author in words(1..4),
        keywords in proptest::collection::vec(words(1..3), 0..4),
    ) {
        let publish_time = DateTime::from_timestamp(seconds, 0)
            .unwrap()
            .with_timezone(&FixedOffset::east_opt(VIETNAM_UTC_OFFSET_SECONDS).unwrap());
        let mut body = Vec::new();
        let mut video_references = Vec::new();
        for (paragraph, video) in paragraphs {
            body.push(paragraph);
            if let Some(video) = video {
                body.push(format!("Video: {video}.mp4"));
                video_references.push(format!("{video}.mp4"));
            }
        }
        let expected =
            ParsedExport { title, publish_time, view_count, body: body.join("\n\n"), author, keywords, video_references };
        let parsed = parse(&render(&expected));
        proptest::prop_assert_eq!(parsed, Ok(expected));
    }

    /// Whatever arrives, the importer answers Ok or an error naming a
    /// line of the text, and never panics.
    #[test]
    fn any_text_parses_or_names_a_line(text in "(?s).{0,400}", prefix_seed: bool) {
        let half = SEED.char_indices().nth(SEED.chars().count() / 2).map_or(0, |(i, _)| i);
        let text = if prefix_seed { format!("{}{text}", &SEED[..half]) } else { text };
        if let Err(error) = parse(&text) {
            proptest::prop_assert!(error.line >= 1 && error.line <= text.split('\n').count() + 1, "{}", error);
        }
    }

    /// Any mix of NFC and NFD lines, and either tone-mark placement in
    /// the keyword label, gives the same fields (as sent: equal once
    /// composed again).
    #[test]
    fn any_mix_of_forms_gives_the_same_fields(forms in proptest::collection::vec(0u8..3, 64)) {
        for export in [SEED, TWO_VIDEOS] {
            let expected = parse(export).unwrap();
            let mixed: Vec<String> = export
                .split('\n')
                .zip(forms.iter().cycle())
                .map(|(line, form)| match form {
                    0 => line.to_owned(),
                    1 => nfd(line),
                    // The other tone-mark placement, in the keyword label only.
                    _ if line.trim_start().starts_with('•') => nfd(&line.replacen("khóa", "khoá", 1)),
                    _ => nfd(line),
                })
                .collect();
            let parsed = parse(&mixed.join("\n")).unwrap();
            proptest::prop_assert_eq!(parsed.publish_time, expected.publish_time);
            proptest::prop_assert_eq!(parsed.view_count, expected.view_count);
            proptest::prop_assert_eq!(nfc(&parsed.title), expected.title);
            proptest::prop_assert_eq!(nfc(&parsed.author), expected.author);
            proptest::prop_assert_eq!(nfc(&parsed.body), expected.body);
            let keywords: Vec<String> = parsed.keywords.iter().map(|k| nfc(k)).collect();
            proptest::prop_assert_eq!(keywords, expected.keywords);
            proptest::prop_assert_eq!(parsed.video_references, expected.video_references);
        }
    }
}
