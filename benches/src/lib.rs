//! Shared inputs of the facecore benchmarks: the 640×480 JPEG with one face
//! that every stage is measured on.

use facecore::image::RgbImage;

/// The astronaut fixture (512×512, one face) placed on a 640×480 canvas and
/// encoded as JPEG (quality 90): the standard one-face benchmark input.
pub fn one_face_jpeg_640x480() -> Vec<u8> {
    let src = include_bytes!("../../fixtures/astronaut.png");
    let astronaut = match image::load_from_memory(src) {
        Ok(img) => img.to_rgb8(),
        Err(_) => RgbImage::new(512, 512),
    };
    let mut canvas = RgbImage::from_pixel(640, 480, image::Rgb([90, 100, 110]));
    let face = image::imageops::crop_imm(&astronaut, 0, 0, 512, 480).to_image();
    image::imageops::replace(&mut canvas, &face, 64, 0);
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
    if canvas.write_with_encoder(enc).is_err() {
        out.clear();
    }
    out
}
