//! What a caption track says about itself: its language (a BCP 47 tag) and
//! its kind (as HTML's `<track kind>` names them).

/// The kinds of text track a clip keeps (HTML's, but chapters and metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    /// A translation of the dialogue.
    Subtitles,
    /// The dialogue and the sounds, for viewers who cannot hear them.
    Captions,
    /// What is shown, for viewers who cannot see it.
    Descriptions,
}

impl TrackKind {
    pub const ALL: [TrackKind; 3] = [TrackKind::Subtitles, TrackKind::Captions, TrackKind::Descriptions];

    /// Its name in records, manifests and `<track kind>`.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackKind::Subtitles => "subtitles",
            TrackKind::Captions => "captions",
            TrackKind::Descriptions => "descriptions",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// `tag` as a registered BCP 47 language tag in its conventional case
/// (`vi-vn` → `vi-VN`), or why it is not one (a phrase for a message).
pub fn language(tag: &str) -> Result<String, String> {
    let parsed = language_tags::LanguageTag::parse(tag).map_err(|error| format!("it is not a BCP 47 tag ({error})"))?;
    parsed.validate().map_err(|error| format!("it is not a registered BCP 47 tag ({error})"))?;
    Ok(parsed.into_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_tags_pass_in_their_conventional_case_and_names_do_not() {
        assert_eq!(language("vi").as_deref(), Ok("vi"));
        assert_eq!(language("vi-vn").as_deref(), Ok("vi-VN"));
        assert_eq!(language("en").as_deref(), Ok("en"));
        assert_eq!(language("zh-Hant-TW").as_deref(), Ok("zh-Hant-TW"));
        for bad in ["Vietnamese", "english", "", "vi_VN", "vi-", "xx-YY-ZZZZZZZZZ", "zzzzz-VN"] {
            assert!(language(bad).is_err(), "{bad:?} passed");
        }
        assert_eq!(TrackKind::parse("captions"), Some(TrackKind::Captions));
        assert_eq!(TrackKind::parse("chapters"), None);
    }
}
