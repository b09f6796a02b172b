//! Small JPEG pictures of faces, as the stored thumbnails of the APIs that
//! answer with one (the Face Search API's `face_base_64`).

use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;

use crate::ImageError;

/// Longest side of a face thumbnail, in pixels.
pub const THUMBNAIL_SIZE: u32 = 128;
/// JPEG quality of face thumbnails (1..=100): at 128 pixels a face is
/// about 4–6 KB.
pub const THUMBNAIL_QUALITY: u8 = 85;

/// Encodes `image` as a baseline JPEG of `quality` (clamped to 1..=100).
pub fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100))
        .encode_image(image)
        .map_err(|e| ImageError::Encode(e.to_string()))?;
    Ok(out)
}

/// A JPEG thumbnail of the face whose box is `(x, y, width, height)` in
/// `image`: a square around the box, a quarter wider than its longer side
/// (so that the whole head shows), clipped to the image, scaled down with a
/// proper filter so that its longer side is at most `size` (never up), and
/// encoded at [`THUMBNAIL_QUALITY`].
pub fn face_thumbnail(
    image: &RgbImage,
    face: (u32, u32, u32, u32),
    size: u32,
) -> Result<Vec<u8>, ImageError> {
    let (x, y, w, h) = face;
    let side = (f64::from(w.max(h)) * 1.25).round().max(1.0);
    let cx = f64::from(x) + f64::from(w) / 2.0;
    let cy = f64::from(y) + f64::from(h) / 2.0;
    let clip = |v: f64, max: u32| v.clamp(0.0, f64::from(max)) as u32;
    let (x0, y0) = (
        clip(cx - side / 2.0, image.width()),
        clip(cy - side / 2.0, image.height()),
    );
    let (x1, y1) = (
        clip(cx + side / 2.0, image.width()),
        clip(cy + side / 2.0, image.height()),
    );
    if x1 <= x0 || y1 <= y0 {
        return Err(ImageError::Encode(format!(
            "the face box {face:?} lies outside the {}x{} image",
            image.width(),
            image.height()
        )));
    }
    let region = crate::crop(image, x0, y0, x1 - x0, y1 - y0);
    let longer = region.width().max(region.height());
    let small = if longer > size.max(1) {
        let scale = f64::from(size.max(1)) / f64::from(longer);
        let tw = ((f64::from(region.width()) * scale).round() as u32).max(1);
        let th = ((f64::from(region.height()) * scale).round() as u32).max(1);
        image::imageops::thumbnail(&region, tw, th)
    } else {
        region
    };
    encode_jpeg(&small, THUMBNAIL_QUALITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        })
    }

    #[test]
    fn a_thumbnail_is_a_small_jpeg_around_the_face() {
        let image = gradient(1000, 800);
        let jpeg = face_thumbnail(&image, (400, 300, 200, 240), THUMBNAIL_SIZE).expect("thumb");
        let decoded = crate::decode_rgb(&jpeg, &crate::Limits::default()).expect("decodes");
        // 240 * 1.25 = 300 pixels square, scaled to 128.
        assert_eq!((decoded.width(), decoded.height()), (128, 128));
        assert!(jpeg.len() < 16 << 10, "{} bytes", jpeg.len());
        // The centre of the thumbnail is the centre of the face box.
        let centre = decoded.get_pixel(64, 64);
        assert!((i32::from(centre[0]) - 500 % 256).abs() < 12, "{centre:?}");
        assert!((i32::from(centre[1]) - 420 % 256).abs() < 12, "{centre:?}");
    }

    #[test]
    fn a_face_at_the_edge_is_clipped_and_a_small_one_is_not_enlarged() {
        let image = gradient(300, 200);
        let jpeg = face_thumbnail(&image, (0, 0, 100, 100), THUMBNAIL_SIZE).expect("edge");
        let decoded = crate::decode_rgb(&jpeg, &crate::Limits::default()).expect("decodes");
        assert_eq!((decoded.width(), decoded.height()), (112, 112));
        let tiny = face_thumbnail(&image, (150, 100, 20, 20), THUMBNAIL_SIZE).expect("tiny");
        let decoded = crate::decode_rgb(&tiny, &crate::Limits::default()).expect("decodes");
        assert_eq!((decoded.width(), decoded.height()), (25, 25));
        assert!(matches!(
            face_thumbnail(&image, (500, 500, 10, 10), THUMBNAIL_SIZE),
            Err(ImageError::Encode(_))
        ));
    }
}
