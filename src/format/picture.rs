//! Pictures made from frames: turned upright, scaled with their aspect
//! kept and within bounds, encoded as JPEG or WebP (lossy, libwebp); and
//! whether a frame is blank (black, or one flat colour), which a poster
//! avoids.

use image::{RgbImage, imageops};

/// The longest edge of a picture served.
pub const MAX_EDGE: u32 = 1920;
const JPEG_QUALITY: u8 = 85;
/// libwebp's quality (0–100; its default is 75): JPEG 85's look in fewer
/// bytes (a fifth to a third of them on the 720p test clip).
const WEBP_QUALITY: f32 = 80.0;

/// How a picture is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jpeg,
    Webp,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Webp => "image/webp",
        }
    }

    /// Its file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Webp => "webp",
        }
    }

    pub fn from_extension(extension: &str) -> Option<Self> {
        [Format::Jpeg, Format::Webp].into_iter().find(|format| format.extension() == extension)
    }
}

/// The size of a picture of `width`×`height` (as displayed) asked for at
/// `want_width` and/or `want_height` (aspect kept: both fit it inside that
/// box; neither keeps the frame's size), within [`MAX_EDGE`]; `Err` says
/// what is out of bounds.
pub fn fit(width: u32, height: u32, want_width: Option<u32>, want_height: Option<u32>) -> Result<(u32, u32), String> {
    for (name, want) in [("width", want_width), ("height", want_height)] {
        if want.is_some_and(|want| want == 0 || want > MAX_EDGE) {
            return Err(format!("{name} must be 1 to {MAX_EDGE} pixels"));
        }
    }
    let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let scale = match (want_width, want_height) {
        (Some(ww), Some(wh)) => (f64::from(ww) / w).min(f64::from(wh) / h),
        (Some(ww), None) => f64::from(ww) / w,
        (None, Some(wh)) => f64::from(wh) / h,
        (None, None) => 1.0,
    };
    // Whatever was asked, the longer edge stays within bounds.
    let scale = scale.min(f64::from(MAX_EDGE) / w.max(h));
    let side = |length: f64| ((length * scale).round() as u32).clamp(1, MAX_EDGE);
    Ok((side(w), side(h)))
}

/// `frame` turned `rotation` degrees clockwise.
pub fn upright(frame: RgbImage, rotation: u16) -> RgbImage {
    match rotation {
        90 => imageops::rotate90(&frame),
        180 => imageops::rotate180(&frame),
        270 => imageops::rotate270(&frame),
        _ => frame,
    }
}

/// `picture` scaled to `size` and encoded as `format`.
pub fn encode(picture: &RgbImage, size: (u32, u32), format: Format) -> Result<Vec<u8>, String> {
    let scaled;
    let picture = if picture.dimensions() == size {
        picture
    } else {
        scaled = imageops::resize(picture, size.0, size.1, imageops::FilterType::Triangle);
        &scaled
    };
    match format {
        Format::Jpeg => {
            let mut out = Vec::new();
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
            picture.write_with_encoder(encoder).map_err(|error| format!("encoding the JPEG failed: {error}"))?;
            Ok(out)
        }
        Format::Webp => {
            let (width, height) = picture.dimensions();
            let encoded = webp::Encoder::from_rgb(picture.as_raw(), width, height)
                .encode_simple(false, WEBP_QUALITY)
                .map_err(|error| format!("encoding the WebP failed: {error:?}"))?;
            Ok(encoded.to_vec())
        }
    }
}

/// True for a frame a viewer would take for no picture: dark throughout,
/// or one flat colour (a fade, a slate).
pub fn is_blank(picture: &RgbImage) -> bool {
    let (mut count, mut sum, mut squares) = (0f64, 0f64, 0f64);
    // Every 7th pixel is plenty to tell.
    for pixel in picture.pixels().step_by(7) {
        let [r, g, b] = pixel.0.map(f64::from);
        let luma = 0.299 * r + 0.587 * g + 0.114 * b;
        count += 1.0;
        sum += luma;
        squares += luma * luma;
    }
    if count == 0.0 {
        return true;
    }
    let mean = sum / count;
    let deviation = (squares / count - mean * mean).max(0.0).sqrt();
    mean < 20.0 || deviation < 6.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_keep_the_aspect_and_their_bounds() {
        assert_eq!(fit(320, 180, None, None), Ok((320, 180)));
        assert_eq!(fit(320, 180, Some(160), None), Ok((160, 90)));
        assert_eq!(fit(320, 180, None, Some(90)), Ok((160, 90)));
        assert_eq!(fit(320, 180, Some(100), Some(100)), Ok((100, 56)), "fits inside the box");
        assert_eq!(fit(180, 320, Some(1920), None), Ok((1080, 1920)), "the longer edge stays within bounds");
        assert_eq!(fit(3840, 2160, None, None), Ok((1920, 1080)));
        assert!(fit(320, 180, Some(0), None).is_err());
        assert!(fit(320, 180, None, Some(5000)).is_err());
    }

    #[test]
    fn black_and_flat_frames_are_blank_and_pictures_are_not() {
        assert!(is_blank(&RgbImage::new(64, 36)));
        assert!(is_blank(&RgbImage::from_pixel(64, 36, image::Rgb([120, 120, 200]))));
        let mut picture = RgbImage::from_pixel(64, 36, image::Rgb([120, 120, 200]));
        for x in 0..32 {
            for y in 0..36 {
                picture.put_pixel(x, y, image::Rgb([250, 250, 250]));
            }
        }
        assert!(!is_blank(&picture));
        for format in [Format::Jpeg, Format::Webp] {
            let encoded = encode(&picture, (32, 18), format).unwrap();
            assert_eq!(Format::from_extension(format.extension()), Some(format));
            let size = match format {
                Format::Jpeg => image::load_from_memory(&encoded).unwrap().to_rgb8().dimensions(),
                Format::Webp => {
                    assert_eq!(&encoded[8..16], b"WEBPVP8 ", "lossy WebP");
                    let decoded = webp::Decoder::new(&encoded).decode().unwrap();
                    (decoded.width(), decoded.height())
                }
            };
            assert_eq!(size, (32, 18), "{format:?}");
        }
        let upright = upright(picture, 90);
        assert_eq!(upright.dimensions(), (36, 64));
        assert_eq!(upright.get_pixel(0, 0).0, [250, 250, 250], "the left half is on top");
        assert_eq!(upright.get_pixel(0, 63).0, [120, 120, 200]);
    }
}
