//! The two crops the models take: dlib's aligned face chip (age and gender)
//! and a grown box (pose).

use facecore_align::estimate_similarity;
use facecore_detect::{BBox, Landmarks5};
use image::RgbImage;

use crate::AttributeError;

/// Where our five points (eye centres, nose tip, mouth corners) sit on an
/// unpadded dlib face chip, as fractions of its side. Derived from dlib's
/// mean face (the 68-point `get_face_chip_details`, points 17–67) exactly as
/// `facecore-detect` reduces 68 points to 5: eye centre = mean of points
/// 37, 38, 40, 41 (43, 44, 46, 47), nose tip = 30, mouth corner = mean of 48
/// and 60 (54 and 64).
pub const CHIP_TEMPLATE: Landmarks5 = [
    [0.224_152, 0.211_946_5],
    [0.756_101_2, 0.211_946_5],
    [0.490_127, 0.515_625],
    [0.272_264, 0.782_512_5],
    [0.707_989, 0.782_512_5],
];

/// dlib's default chip padding (`get_face_chip_details(det, size, 0.2)`),
/// which the age and gender networks were trained with.
pub const CHIP_PADDING: f32 = 0.2;

/// dlib's face chip of side `size`: the similarity transform that puts the
/// five points on [`CHIP_TEMPLATE`] (padded by [`CHIP_PADDING`]), sampled
/// bilinearly (pixel centres at integer coordinates, black outside the
/// image). When the chip shrinks the face by more than 2×, the source is
/// first halved by 2×2 averaging (as many times as needed, like dlib's image
/// pyramid) so the samples do not alias.
pub fn face_chip(
    image: &RgbImage,
    landmarks: &Landmarks5,
    size: u32,
) -> Result<RgbImage, AttributeError> {
    let side = size as f32;
    let template: Vec<[f32; 2]> = CHIP_TEMPLATE
        .iter()
        .map(|p| {
            [
                (CHIP_PADDING + p[0]) / (1.0 + 2.0 * CHIP_PADDING) * side,
                (CHIP_PADDING + p[1]) / (1.0 + 2.0 * CHIP_PADDING) * side,
            ]
        })
        .collect();
    // chip → image
    let t = estimate_similarity(&template, landmarks)
        .map_err(|e| AttributeError::Landmarks(e.to_string()))?;
    let scale = t.scale();
    let mut factor = 1u32;
    while scale / f64::from(factor) > 2.0 && factor < 1 << 16 {
        factor *= 2;
    }
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return Err(AttributeError::EmptyImage);
    }
    // The chip's footprint in the image (its corners), with a margin, with
    // its origin on a multiple of `factor` so the averaged pixels are those
    // of a pyramid of the whole image.
    let corners = [[0.0, 0.0], [side, 0.0], [0.0, side], [side, side]]
        .map(|[u, v]| t.apply_f64([f64::from(u), f64::from(v)]));
    let margin = 2.0 * f64::from(factor);
    let lo = |i: usize| corners.iter().map(|c| c[i]).fold(f64::INFINITY, f64::min) - margin;
    let hi = |i: usize| {
        corners
            .iter()
            .map(|c| c[i])
            .fold(f64::NEG_INFINITY, f64::max)
            + margin
    };
    let f = f64::from(factor);
    let clamp = |v: f64, n: u32| v.max(0.0).min(f64::from(n)) as u32;
    let x0 = clamp((lo(0) / f).floor() * f, w);
    let y0 = clamp((lo(1) / f).floor() * f, h);
    let x1 = clamp(hi(0).ceil(), w).max(x0);
    let y1 = clamp(hi(1).ceil(), h).max(y0);
    let source = Level::of(image, x0, y0, x1 - x0, y1 - y0, factor);

    let mut out = RgbImage::new(size, size);
    for (v, row) in out.chunks_exact_mut(3 * size as usize).enumerate() {
        for (u, px) in row.chunks_exact_mut(3).enumerate() {
            let [x, y] = t.apply_f64([u as f64, v as f64]);
            // A pixel centre of a level halved `factor` times sits at
            // `factor·i + (factor − 1)/2` in the full image.
            let lx = (x - f64::from(x0) - (f - 1.0) / 2.0) / f;
            let ly = (y - f64::from(y0) - (f - 1.0) / 2.0) / f;
            let value = source.sample(lx as f32, ly as f32, x, y, w, h);
            for c in 0..3 {
                px[c] = value[c].round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    Ok(out)
}

/// A region of the image averaged over blocks of `factor`×`factor` pixels
/// (what halving it 2×2 `log2(factor)` times gives), as `f32` RGB. Built
/// straight from the image, so a large face never needs a full-resolution
/// copy.
struct Level {
    width: usize,
    height: usize,
    data: Vec<f32>,
}

impl Level {
    fn of(image: &RgbImage, x0: u32, y0: u32, w: u32, h: u32, factor: u32) -> Self {
        let f = factor.max(1);
        let (width, height) = ((w / f) as usize, (h / f) as usize);
        let mut data = vec![0f32; 3 * width * height];
        let area = (f * f) as f32;
        for (j, row) in data
            .chunks_exact_mut(3 * width.max(1))
            .take(height)
            .enumerate()
        {
            for (i, px) in row.chunks_exact_mut(3).enumerate() {
                let mut sum = [0u32; 3];
                for y in 0..f {
                    for x in 0..f {
                        let p = image.get_pixel(x0 + i as u32 * f + x, y0 + j as u32 * f + y);
                        for c in 0..3 {
                            sum[c] += u32::from(p[c]);
                        }
                    }
                }
                for c in 0..3 {
                    px[c] = sum[c] as f32 / area;
                }
            }
        }
        Self {
            width,
            height,
            data,
        }
    }

    /// Bilinear sample at level coordinates `(x, y)`; black when the
    /// full-image point `(fx, fy)` is outside the `w`×`h` image.
    fn sample(&self, x: f32, y: f32, fx: f64, fy: f64, w: u32, h: u32) -> [f32; 3] {
        let inside = fx >= 0.0 && fy >= 0.0 && fx <= f64::from(w - 1) && fy <= f64::from(h - 1);
        if !inside || self.width == 0 || self.height == 0 {
            return [0.0; 3];
        }
        let (wd, ht) = (self.width, self.height);
        let xc = x.clamp(0.0, (wd - 1) as f32);
        let yc = y.clamp(0.0, (ht - 1) as f32);
        let xi = (xc.floor() as usize).min(wd.saturating_sub(2));
        let yi = (yc.floor() as usize).min(ht.saturating_sub(2));
        let (x1, y1) = ((xi + 1).min(wd - 1), (yi + 1).min(ht - 1));
        let (wx, wy) = (xc - xi as f32, yc - yi as f32);
        let at = |xx: usize, yy: usize, c: usize| self.data[3 * (yy * wd + xx) + c];
        let mut out = [0f32; 3];
        for (c, o) in out.iter_mut().enumerate() {
            let top = at(xi, yi, c) * (1.0 - wx) + at(x1, yi, c) * wx;
            let bottom = at(xi, y1, c) * (1.0 - wx) + at(x1, y1, c) * wx;
            *o = top * (1.0 - wy) + bottom * wy;
        }
        out
    }
}

/// The pose model's crop: the box grown by a quarter of its width (height)
/// on each side, cut at the image border (not moved inside), resized to
/// `size`×`size` without keeping the aspect ratio.
pub fn grown_box_crop(
    image: &RgbImage,
    bbox: &BBox,
    size: u32,
) -> Result<RgbImage, AttributeError> {
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 {
        return Err(AttributeError::EmptyImage);
    }
    let grow = 0.25;
    let left = (bbox.x - bbox.width * grow).max(0.0);
    let top = (bbox.y - bbox.height * grow).max(0.0);
    let right = (bbox.x + bbox.width * (1.0 + grow)).min(w as f32);
    let bottom = (bbox.y + bbox.height * (1.0 + grow)).min(h as f32);
    if !(right > left && bottom > top) {
        return Err(AttributeError::Landmarks(format!(
            "the face box {bbox:?} is outside the {w}x{h} image"
        )));
    }
    let region = (
        left.round() as u32,
        top.round() as u32,
        ((right - left).round() as u32).max(1),
        ((bottom - top).round() as u32).max(1),
    );
    Ok(facecore_image::resize_region_bilinear(
        image, region, size, size,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The template's own points, scaled to a 200 px face, give back a chip
    /// whose pixels at the template positions are the image's there.
    #[test]
    fn a_face_on_the_template_maps_onto_the_chip_unchanged() {
        let size = 64;
        let padded = |p: [f32; 2]| {
            [
                (CHIP_PADDING + p[0]) / (1.0 + 2.0 * CHIP_PADDING) * size as f32,
                (CHIP_PADDING + p[1]) / (1.0 + 2.0 * CHIP_PADDING) * size as f32,
            ]
        };
        // An image whose red channel is x and green is y: the chip of points
        // already on the template (offset by 10 px) is the same ramp, shifted.
        let image = RgbImage::from_fn(100, 100, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let landmarks = CHIP_TEMPLATE.map(|p| {
            let q = padded(p);
            [q[0] + 10.0, q[1] + 10.0]
        });
        let chip = face_chip(&image, &landmarks, size).expect("chip");
        for (u, v) in [(0, 0), (20, 31), (63, 63)] {
            let px = chip.get_pixel(u, v);
            assert_eq!((px[0], px[1], px[2]), (u as u8 + 10, v as u8 + 10, 7));
        }
    }

    #[test]
    fn a_large_face_is_averaged_before_sampling() {
        // A fine checkerboard: sampled without averaging, a chip of a face
        // eight times its size would be (nearly) black and white; averaged,
        // it is grey.
        let image = RgbImage::from_fn(800, 800, |x, y| {
            let on = (x + y) % 2 == 0;
            image::Rgb([if on { 255 } else { 0 }; 3])
        });
        let landmarks = CHIP_TEMPLATE.map(|p| {
            let s = 8.0 * 64.0 / (1.0 + 2.0 * CHIP_PADDING);
            [
                100.0 + (CHIP_PADDING + p[0]) * s,
                100.0 + (CHIP_PADDING + p[1]) * s,
            ]
        });
        let chip = face_chip(&image, &landmarks, 64).expect("chip");
        let (lo, hi) = chip
            .pixels()
            .fold((255u8, 0u8), |(lo, hi), p| (lo.min(p[0]), hi.max(p[0])));
        assert!(lo >= 120 && hi <= 135, "grey expected, got {lo}..{hi}");
    }

    #[test]
    fn the_pose_crop_grows_the_box_and_stops_at_the_border() {
        let image = RgbImage::from_fn(200, 100, |x, _| image::Rgb([x as u8, 0, 0]));
        let bbox = BBox {
            x: 150.0,
            y: 20.0,
            width: 40.0,
            height: 40.0,
        };
        // Grown: x from 140 to 200 (cut at the border), y from 10 to 70.
        let crop = grown_box_crop(&image, &bbox, 60).expect("crop");
        assert_eq!(crop.dimensions(), (60, 60));
        assert_eq!(crop.get_pixel(0, 0)[0], 140);
        assert_eq!(crop.get_pixel(59, 0)[0], 199);
        let outside = BBox { x: 300.0, ..bbox };
        assert!(grown_box_crop(&image, &outside, 60).is_err());
    }
}
