//! The detection windows of an image (the whole image, then tiles for
//! large images; see the crate docs) and how their boxes are merged.

use crate::boxes::{nms, overlap_of_smaller, sort_by_dominance};
use crate::{DETECTOR_HEIGHT, DETECTOR_WIDTH, DetectorConfig, FaceBox};

/// A region of the image the detector runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Left edge in original pixels.
    pub x: u32,
    /// Top edge in original pixels.
    pub y: u32,
    /// Width in original pixels.
    pub width: u32,
    /// Height in original pixels.
    pub height: u32,
    /// `false` for the whole-image pass, `true` for a tile.
    pub is_tile: bool,
}

/// Splits `len` into windows of `tile` with at least `overlap` between them;
/// returns their start offsets (first 0, last `len - tile`).
fn tile_starts(len: u32, tile: u32, overlap: f32) -> Vec<u32> {
    if tile >= len {
        return vec![0];
    }
    let stride = ((tile as f32) * (1.0 - overlap)).max(1.0);
    let count = (((len - tile) as f32) / stride).ceil() as u32 + 1;
    let span = (len - tile) as f32;
    (0..count)
        .map(|i| ((span * i as f32) / (count - 1) as f32).round() as u32)
        .collect()
}

/// The windows of a `width × height` image under `config`: the whole image
/// first, then the tiles row by row.
pub(crate) fn plan_windows(width: u32, height: u32, config: &DetectorConfig) -> Vec<Window> {
    let mut windows = vec![Window {
        x: 0,
        y: 0,
        width,
        height,
        is_tile: false,
    }];
    let scale = f32::max(
        width as f32 / DETECTOR_WIDTH as f32,
        height as f32 / DETECTOR_HEIGHT as f32,
    );
    if config.tile_scale >= 1.0 && scale > config.tile_scale * 1.25 {
        let tw = ((DETECTOR_WIDTH as f32 * config.tile_scale).round() as u32).min(width);
        let th = ((DETECTOR_HEIGHT as f32 * config.tile_scale).round() as u32).min(height);
        for y in tile_starts(height, th, config.tile_overlap) {
            for x in tile_starts(width, tw, config.tile_overlap) {
                windows.push(Window {
                    x,
                    y,
                    width: tw,
                    height: th,
                    is_tile: true,
                });
            }
        }
    }
    windows
}

/// Faces at least this many detector pixels wide at the whole-image scale are
/// left to the whole-image pass; tiles only add smaller ones.
pub const TILE_FACE_LIMIT: f32 = 40.0;

/// Merges the boxes found in each window (after NMS within the window) and
/// sorts them by dominance; `nms_iou` is [`DetectorConfig::nms_iou`].
///
/// The whole-image pass is authoritative: tiles only add faces that are
/// too small for it (under [`TILE_FACE_LIMIT`] detector pixels at the
/// whole-image scale) and that do not overlap a face it found. (Letting a
/// tile's box of a large face replace the whole-image box measurably
/// lowers recognition accuracy: the model's boxes are best at the scale
/// it sees the face whole.)
pub(crate) fn merge_windows(
    results: Vec<(Window, Vec<FaceBox>)>,
    width: u32,
    height: u32,
    nms_iou: f32,
) -> Vec<FaceBox> {
    let scale = f32::max(
        width as f32 / DETECTOR_WIDTH as f32,
        height as f32 / DETECTOR_HEIGHT as f32,
    );
    let (tiles, whole): (Vec<_>, Vec<_>) = results.into_iter().partition(|(w, _)| w.is_tile);
    let mut kept = nms(whole.into_iter().flat_map(|(_, b)| b).collect(), nms_iou);
    let small: Vec<FaceBox> = tiles
        .into_iter()
        .flat_map(|(_, b)| b)
        .filter(|b| b.bbox.width.max(b.bbox.height) < TILE_FACE_LIMIT * scale)
        .filter(|b| {
            kept.iter()
                .all(|k| overlap_of_smaller(&k.bbox, &b.bbox) < 0.3)
        })
        .collect();
    kept.extend(nms(small, nms_iou));
    sort_by_dominance(&mut kept);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_large_images_with_overlapping_tiles() {
        let cfg = DetectorConfig::default();
        assert_eq!(plan_windows(640, 480, &cfg).len(), 1);
        let w = plan_windows(4000, 3000, &cfg);
        assert!(w.len() > 1);
        assert!(!w[0].is_tile);
        for t in &w[1..] {
            assert_eq!((t.width, t.height), (960, 720));
            assert!(t.x + t.width <= 4000 && t.y + t.height <= 3000);
        }
        // every pixel is inside some tile, and neighbours overlap by >= 25%
        let xs = tile_starts(4000, 960, 0.25);
        assert_eq!(xs[0], 0);
        assert_eq!(*xs.last().unwrap_or(&0), 4000 - 960);
        for pair in xs.windows(2) {
            assert!(pair[1] - pair[0] <= 720);
        }
        let off = DetectorConfig {
            tile_scale: 0.0,
            ..cfg
        };
        assert_eq!(plan_windows(4000, 3000, &off).len(), 1);
    }
}
