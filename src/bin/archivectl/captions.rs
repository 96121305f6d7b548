//! Caption tracks of a clip: add (or replace), ls, rm.

use crate::output::{Report, show_time};
use anyhow::Context;
use archive::{
    client::{Connection, media_client},
    format::export::VIETNAM_UTC_OFFSET_SECONDS,
    proto::v1 as pb,
};
use clap::{Subcommand, ValueEnum};
use serde::Serialize;
use std::{fmt::Write, path::PathBuf};

#[derive(Subcommand)]
pub enum CaptionsCommand {
    /// Add a WebVTT or SRT file as a caption track of a clip (`media/ID`),
    /// or replace the clip's track of that id. A fault in the file is
    /// reported with its line.
    Add {
        /// `media/ID`.
        media: String,
        file: PathBuf,
        /// BCP 47 language tag of the text: `vi`, `en`, `vi-VN`.
        #[arg(long = "lang", value_name = "TAG")]
        language: String,
        #[arg(long, value_enum, default_value_t = Kind::Subtitles)]
        kind: Kind,
        /// What a player's menu shows (default: the language tag).
        #[arg(long, default_value = "")]
        label: String,
        /// The track's id (default: the language tag in lower case).
        #[arg(long, default_value = "")]
        id: String,
    },
    /// List a clip's caption tracks.
    Ls {
        /// `media/ID`.
        media: String,
    },
    /// Delete a caption track (`media/ID/captions/TRACK`).
    Rm { name: String },
}

/// What a track is for (HTML's `<track kind>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Subtitles,
    Captions,
    Descriptions,
}

impl From<Kind> for pb::CaptionKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Subtitles => pb::CaptionKind::Subtitles,
            Kind::Captions => pb::CaptionKind::Captions,
            Kind::Descriptions => pb::CaptionKind::Descriptions,
        }
    }
}

/// The name `<track kind>` takes, for text.
fn kind_name(kind: i32) -> &'static str {
    match pb::CaptionKind::try_from(kind) {
        Ok(pb::CaptionKind::Captions) => "captions",
        Ok(pb::CaptionKind::Descriptions) => "descriptions",
        _ => "subtitles",
    }
}

fn track_line(out: &mut String, track: &pb::CaptionTrack) -> std::fmt::Result {
    let end = track.end.as_ref().map_or(0, |end| end.seconds);
    writeln!(
        out,
        "{}\t{}\t{}\t{}\t{} cues to {}:{:02}\t{} {} bytes\tupdated {}",
        track.name,
        track.language,
        kind_name(track.kind),
        track.label,
        track.cue_count,
        end / 60,
        end % 60,
        track.source_format,
        track.source_size_bytes,
        show_time(track.update_time.as_ref(), VIETNAM_UTC_OFFSET_SECONDS)
    )
}

impl Report for pb::PutCaptionTrackResponse {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        if let Some(track) = &self.track {
            track_line(out, track)?;
        }
        Ok(())
    }

    fn aside(&self) -> Option<String> {
        Some(format!(
            "{}; the clip's etag is now {}",
            if self.replaced { "replaced" } else { "added" },
            self.media_etag
        ))
    }
}

impl Report for pb::ListCaptionTracksResponse {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        self.tracks.iter().try_for_each(|track| track_line(out, track))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removed {
    pub name: String,
    #[serde(flatten)]
    pub response: pb::DeleteCaptionTrackResponse,
}

impl Report for Removed {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "deleted {}", self.name)
    }
}

pub async fn run(channel: &Connection, command: CaptionsCommand, format: crate::cli::Format) -> anyhow::Result<()> {
    let mut client = media_client(channel.clone());
    match command {
        CaptionsCommand::Add { media, file, language, kind, label, id } => {
            let content = tokio::fs::read(&file).await.with_context(|| format!("reading {}", file.display()))?;
            let request = pb::PutCaptionTrackRequest {
                media,
                track_id: id,
                language,
                kind: pb::CaptionKind::from(kind).into(),
                label,
                content: content.into(),
                etag: String::new(),
            };
            crate::output::emit(format, &client.put_caption_track(request).await?.into_inner())
        }
        CaptionsCommand::Ls { media } => {
            let request = pb::ListCaptionTracksRequest { media };
            crate::output::emit(format, &client.list_caption_tracks(request).await?.into_inner())
        }
        CaptionsCommand::Rm { name } => {
            let request = pb::DeleteCaptionTrackRequest { name: name.clone(), etag: String::new() };
            let response = client.delete_caption_track(request).await?.into_inner();
            crate::output::emit(format, &Removed { name, response })
        }
    }
}
