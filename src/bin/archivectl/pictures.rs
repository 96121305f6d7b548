//! A clip's pictures: `thumb` (the frame at a time, saved as JPEG, or WebP
//! for an output file named `.webp`) and
//! `poster` (set to the frame at a time, or to an image).

use crate::output::Report;
use anyhow::Context;
use archive::{
    client::{Connection, media_client},
    proto::v1::{self as pb, set_poster_request::Source},
};
use serde::Serialize;
use std::{fmt::Write, path::PathBuf};

/// Seconds as given on the command line (`--at`, `--start`), as a Duration.
pub fn duration(seconds: f64) -> anyhow::Result<pbjson_types::Duration> {
    anyhow::ensure!(seconds.is_finite() && seconds >= 0.0, "a time in seconds is 0 or more");
    Ok(pbjson_types::Duration { seconds: seconds.trunc() as i64, nanos: (seconds.fract() * 1e9).round() as i32 })
}

fn seconds(duration: Option<&pbjson_types::Duration>) -> String {
    duration.map_or_else(String::new, |d| format!("{}.{:03}", d.seconds, d.nanos / 1_000_000))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Thumb {
    pub path: PathBuf,
    pub width: i32,
    pub height: i32,
    pub frame_time: String,
    pub bytes_written: usize,
}

impl Report for Thumb {
    fn text(&self, _: &mut String) -> std::fmt::Result {
        Ok(())
    }

    fn aside(&self) -> Option<String> {
        Some(format!(
            "saved {} ({}x{}, the frame at {} s, {} bytes)",
            self.path.display(),
            self.width,
            self.height,
            self.frame_time,
            self.bytes_written
        ))
    }
}

/// Saves the thumbnail of `media` at `at` seconds to `output` (WebP when
/// its name ends in `.webp`, else JPEG).
pub async fn thumb(
    channel: &Connection,
    media: String,
    at: f64,
    width: Option<i32>,
    height: Option<i32>,
    output: PathBuf,
) -> anyhow::Result<Thumb> {
    let request = pb::GetThumbnailRequest {
        media,
        time: Some(duration(at)?),
        width: width.unwrap_or(0),
        height: height.unwrap_or(0),
        format: if output.extension().is_some_and(|extension| extension.eq_ignore_ascii_case("webp")) {
            pb::ImageFormat::Webp
        } else {
            pb::ImageFormat::Jpeg
        } as i32,
    };
    let answer = media_client(channel.clone()).get_thumbnail(request).await?.into_inner();
    tokio::fs::write(&output, &answer.image).await.with_context(|| format!("writing {}", output.display()))?;
    Ok(Thumb {
        path: output,
        width: answer.width,
        height: answer.height,
        frame_time: seconds(answer.frame_time.as_ref()),
        bytes_written: answer.image.len(),
    })
}

impl Report for pb::SetPosterResponse {
    fn text(&self, out: &mut String) -> std::fmt::Result {
        if let Some(poster) = &self.poster {
            let from = match &poster.time {
                Some(time) => format!("the frame at {} s", seconds(Some(time))),
                None => "an image".into(),
            };
            writeln!(
                out,
                "poster: {from}, {} {} bytes sha256 {}",
                poster.content_type, poster.size_bytes, poster.sha256
            )?;
        }
        Ok(())
    }

    fn aside(&self) -> Option<String> {
        Some(format!("the clip's etag is now {}", self.media_etag))
    }
}

/// Sets the poster of `media`: the frame at `at` seconds, or `image`.
pub async fn poster(
    channel: &Connection,
    media: String,
    at: Option<f64>,
    image: Option<PathBuf>,
) -> anyhow::Result<pb::SetPosterResponse> {
    let source = match (at, image) {
        (Some(at), None) => Source::Time(duration(at)?),
        (None, Some(path)) => {
            Source::Image(tokio::fs::read(&path).await.with_context(|| format!("reading {}", path.display()))?.into())
        }
        _ => anyhow::bail!("give --at SECONDS or --image FILE"),
    };
    let request = pb::SetPosterRequest { media, source: Some(source), etag: String::new() };
    Ok(media_client(channel.clone()).set_poster(request).await?.into_inner())
}
