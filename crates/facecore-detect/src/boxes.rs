//! Boxes in image pixels: their geometry, non-maximum suppression and the
//! dominance order faces are returned in.

/// An axis-aligned box in original-image pixels (floating point).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
}

impl BBox {
    /// Area in square pixels.
    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    /// Intersection over union with another box (0 when disjoint).
    pub fn iou(&self, other: &BBox) -> f32 {
        let x1 = self.x.max(other.x);
        let y1 = self.y.max(other.y);
        let x2 = (self.x + self.width).min(other.x + other.width);
        let y2 = (self.y + self.height).min(other.y + other.height);
        let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// The box rounded to whole pixels and clipped to a `width × height` image:
    /// `(x, y, w, h)` with `x + w <= width` and `y + h <= height`.
    pub fn to_pixels(&self, width: u32, height: u32) -> (u32, u32, u32, u32) {
        let x1 = self.x.round().clamp(0.0, width as f32) as u32;
        let y1 = self.y.round().clamp(0.0, height as f32) as u32;
        let x2 = (self.x + self.width).round().clamp(0.0, width as f32) as u32;
        let y2 = (self.y + self.height).round().clamp(0.0, height as f32) as u32;
        (x1, y1, x2.saturating_sub(x1), y2.saturating_sub(y1))
    }
}

/// A face found by the detector, before landmarks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceBox {
    /// The box, clipped to the image, in original pixels.
    pub bbox: BBox,
    /// Face probability in [0, 1].
    pub confidence: f32,
    /// The five points (eyes, nose tip, mouth corners), from a detector
    /// that gives them with the box (SCRFD); `None` from one that does not,
    /// whose faces get them from the landmark model.
    pub keypoints: Option<crate::Landmarks5>,
}

impl FaceBox {
    /// The dominance used to order faces: `area × confidence`.
    pub fn dominance(&self) -> f32 {
        self.bbox.area() * self.confidence
    }
}

/// Intersection area divided by the area of the smaller box.
pub(crate) fn overlap_of_smaller(a: &BBox, b: &BBox) -> f32 {
    let x1 = a.x.max(b.x);
    let y1 = a.y.max(b.y);
    let x2 = (a.x + a.width).min(b.x + b.width);
    let y2 = (a.y + a.height).min(b.y + b.height);
    let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
    let smaller = a.area().min(b.area());
    if smaller <= 0.0 { 0.0 } else { inter / smaller }
}

/// Greedy IoU non-maximum suppression: highest confidence first.
pub fn nms(mut boxes: Vec<FaceBox>, iou: f32) -> Vec<FaceBox> {
    boxes.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let mut kept: Vec<FaceBox> = Vec::with_capacity(boxes.len().min(64));
    for b in boxes {
        if kept.iter().all(|k| k.bbox.iou(&b.bbox) <= iou) {
            kept.push(b);
        }
    }
    kept
}

/// Sorts faces most dominant first (`area × confidence`, then confidence, then
/// top-left position, so the order is deterministic).
pub fn sort_by_dominance(faces: &mut [FaceBox]) {
    faces.sort_by(|a, b| {
        b.dominance()
            .total_cmp(&a.dominance())
            .then(b.confidence.total_cmp(&a.confidence))
            .then(a.bbox.y.total_cmp(&b.bbox.y))
            .then(a.bbox.x.total_cmp(&b.bbox.x))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fb(x: f32, y: f32, w: f32, h: f32, c: f32) -> FaceBox {
        FaceBox {
            keypoints: None,
            bbox: BBox {
                x,
                y,
                width: w,
                height: h,
            },
            confidence: c,
        }
    }

    #[test]
    fn iou_of_identical_and_disjoint_boxes() {
        let a = fb(0.0, 0.0, 10.0, 10.0, 1.0).bbox;
        let b = fb(20.0, 20.0, 10.0, 10.0, 1.0).bbox;
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&b), 0.0);
        let c = fb(5.0, 0.0, 10.0, 10.0, 1.0).bbox;
        assert!((a.iou(&c) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn nms_keeps_the_strongest_of_overlapping_boxes() {
        let kept = nms(
            vec![
                fb(0.0, 0.0, 10.0, 10.0, 0.8),
                fb(1.0, 1.0, 10.0, 10.0, 0.9),
                fb(50.0, 50.0, 10.0, 10.0, 0.75),
            ],
            0.3,
        );
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].confidence, 0.9);
        assert_eq!(kept[1].confidence, 0.75);
    }

    #[test]
    fn dominance_prefers_large_clear_faces() {
        let mut faces = vec![
            fb(0.0, 0.0, 10.0, 10.0, 0.99),
            fb(0.0, 0.0, 100.0, 100.0, 0.8),
            fb(0.0, 0.0, 50.0, 50.0, 0.99),
        ];
        sort_by_dominance(&mut faces);
        assert_eq!(faces[0].bbox.width, 100.0);
        assert_eq!(faces[1].bbox.width, 50.0);
        assert_eq!(faces[2].bbox.width, 10.0);
    }

    #[test]
    fn pixels_are_clipped_to_the_image() {
        let b = BBox {
            x: -3.4,
            y: 5.6,
            width: 200.0,
            height: 10.0,
        };
        assert_eq!(b.to_pixels(100, 50), (0, 6, 100, 10));
    }
}
