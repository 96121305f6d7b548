//! The embeddable player: `/embed/{token}/media/{id}[?t=SECONDS]`, a page
//! a CMS puts in an iframe. The token is the clip's prefix token (the one
//! its files are served under), so the page expires with the playback
//! answer it came in, and every URL the page names expires with it.
//!
//! The page is HTML with no inline script: the clip is described in a JSON
//! data block that the player (web/src/embed.ts, built into web/dist and
//! embedded here) reads. Its Content-Security-Policy lets it run only the
//! gateway's own script and load only the clip's URLs; any page may frame it.

use super::{
    assets::{self, Asset, asset},
    failed, plain,
};
use crate::domain::{Archive, PlaybackUrl, clip_files::clip_prefix, signing::SignatureError};
use crate::ids::MediaId;
use axum::{
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use std::time::Duration;

static ASSETS: [Asset; 3] = [
    asset!("player.js", "text/javascript; charset=utf-8"),
    asset!("player.css", "text/css; charset=utf-8"),
    // The licenses of what the script bundles, which it names.
    asset!("player.js.LEGAL.txt", "text/plain; charset=utf-8"),
];

/// The player's files, by name.
pub(super) async fn serve_asset(Path(name): Path<String>, request: HeaderMap) -> Response {
    match assets::find(&ASSETS, &name) {
        Some(asset) => assets::serve(asset, &request),
        None => plain(StatusCode::NOT_FOUND, "no such file\n"),
    }
}

/// `?t=SECONDS`: where playback starts.
fn start_of(uri: &Uri) -> Option<Duration> {
    let query = uri.query().unwrap_or_default();
    let t = form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == "t")?.1;
    // A time no Duration holds (`t=1e30`) is ignored, never a panic.
    t.parse::<f64>().ok().and_then(|t| Duration::try_from_secs_f64(t).ok())
}

pub(super) async fn serve_embed(
    State(archive): State<Archive>,
    Path((token, id)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    let Ok(id) = MediaId::parse(&id) else {
        return plain(StatusCode::NOT_FOUND, "no such clip\n");
    };
    let now = chrono::Utc::now().timestamp();
    let expires = match archive.signer().verify_prefix(&clip_prefix(&id), &token, now) {
        Ok(expires) => expires,
        Err(SignatureError::Expired) => return plain(StatusCode::FORBIDDEN, "the URL has expired\n"),
        Err(_) => return plain(StatusCode::FORBIDDEN, "the URL's signature is not valid\n"),
    };
    let start = start_of(&uri);
    // The page's URLs expire when the page does.
    let ttl = Duration::from_secs((expires - now).max(1) as u64);
    let answer = match archive.playback_url(&id, Some(ttl), false, None).await {
        Ok(answer) => answer,
        Err(error) => return failed(error),
    };
    let title = match archive.get_media(&id).await {
        Ok(media) => media.filename,
        Err(error) => return failed(error),
    };
    page(&answer, &title, start)
}

/// The page for one clip.
fn page(answer: &PlaybackUrl, title: &str, start: Option<Duration>) -> Response {
    let clip = serde_json::json!({
        "title": title,
        "src": answer.url,
        "type": answer.content_type,
        "poster": answer.poster_url,
        "storyboard": answer.storyboard_url,
        "start": start.map(|start| start.as_secs_f64()),
        "tracks": answer.tracks.iter().enumerate().map(|(i, track)| serde_json::json!({
            "src": track.url,
            "language": track.track.language,
            "kind": track.track.kind.as_str(),
            "label": track.track.label,
            "default": i == 0,
        })).collect::<Vec<_>>(),
    });
    // `<` escaped: the data block cannot be closed by what it carries.
    let data = clip.to_string().replace('<', "\\u003c");
    let html = format!(
        "<!doctype html>\n<html lang=\"vi\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<title>{}</title>\n\
         <link rel=\"stylesheet\" href=\"/embed/assets/player.css\">\n\
         <script type=\"module\" src=\"/embed/assets/player.js\"></script>\n</head>\n\
         <body>\n<main id=\"player\"></main>\n<script type=\"application/json\" id=\"clip\">{data}</script>\n</body>\n</html>\n",
        escape(title)
    );
    let media_origin = origin_of(&answer.url);
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
         media-src 'self' blob: {media_origin}; connect-src 'self' {media_origin}; font-src 'self'; \
         frame-ancestors *; base-uri 'none'; form-action 'none'"
    );
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if let Ok(csp) = HeaderValue::from_str(csp.trim()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// `scheme://host[:port]` of a URL (the clip's, which S3 may serve from
/// another origin than the gateway's).
fn origin_of(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return String::new() };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{host}")
}

/// Text for HTML: the five characters that could end it escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_start_time_is_read_or_ignored() {
        let start = |query: &str| start_of(&format!("/embed/t/media/m?{query}").parse().unwrap());
        assert_eq!(start("t=12.5"), Some(Duration::from_millis(12_500)));
        for ignored in ["t=1e30", "t=-1", "t=NaN", "t=inf", "t=abc", "x=1"] {
            assert_eq!(start(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn stored_text_cannot_leave_its_place() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        assert_eq!(origin_of("http://127.0.0.1:9000/bucket/key?X-Amz=1"), "http://127.0.0.1:9000");
        assert_eq!(origin_of("no url"), "");
    }
}
