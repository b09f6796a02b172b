//! Seeded synthetic presentation attacks, made from a genuine photo, for
//! measuring the checker (`cargo xtask eval-liveness`) and for its tests.
//!
//! They imitate what a camera sees of an attack, not a real attack: no
//! real screen, printer or paper was involved, so rates measured on them
//! say how the model reacts to these artefacts, not how it fares against
//! an attacker. Every random choice comes from the seed, so a seed and an
//! input give the same bytes on every machine.
//!
//! - [`screen_replay`]: the photo shown on an RGB-stripe display and
//!   re-captured: the image is shown at 1/p of the camera's resolution
//!   (p in 1.6–2.6 camera pixels per screen pixel, turned by up to ±3°),
//!   each screen pixel drawn as three vertical R, G, B stripes with a dark
//!   row gap, sampled 3×3 per camera pixel (the beat between the two grids
//!   is the moiré); the stripe pattern is mixed 25–50 % into the plain
//!   screen image and blurred 3×3 (a camera's lens and demosaicing soften
//!   it), then display gamma 0.8–1.25, a cool white point, a
//!   raised black level, a soft glare spot of 15–35 % white and sensor
//!   noise.
//! - [`print_attack`]: the photo printed and re-captured: saturation cut to
//!   45–70 %, the range squeezed onto paper white 0.86–0.92 and ink black
//!   0.08–0.14, a warm paper tint, amplitude-modulated C, M, Y halftone dots
//!   on grids turned 15°, 75° and 0° with a cell of 2.2–3.2 px (soft-edged,
//!   then a 3×3 blur as the camera's), a low-frequency paper texture of ±4 %,
//!   an uneven light gradient, and noise.
//! - [`photo_of_photo`]: the photo, with a white print border of 3–5 %,
//!   scaled to 50–70 % of the frame, held in a scene (a two-colour gradient
//!   with a blurred texture) under a perspective warp (each corner moved by
//!   up to 6 % of the photo's width), re-lit (gain 0.85–1.0), blurred 3×3 and
//!   noised.

use image::{Rgb, RgbImage};

/// The kinds of synthetic attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttackKind {
    /// [`screen_replay`].
    ScreenReplay,
    /// [`print_attack`].
    Print,
    /// [`photo_of_photo`].
    PhotoOfPhoto,
}

impl AttackKind {
    /// All kinds.
    pub const ALL: [AttackKind; 3] = [Self::ScreenReplay, Self::Print, Self::PhotoOfPhoto];

    /// A short name (`screen`, `print`, `photo-of-photo`).
    pub fn name(self) -> &'static str {
        match self {
            Self::ScreenReplay => "screen",
            Self::Print => "print",
            Self::PhotoOfPhoto => "photo-of-photo",
        }
    }

    /// Makes this attack from `photo` with `seed`.
    pub fn make(self, photo: &RgbImage, seed: u64) -> RgbImage {
        match self {
            Self::ScreenReplay => screen_replay(photo, seed),
            Self::Print => print_attack(photo, seed),
            Self::PhotoOfPhoto => photo_of_photo(photo, seed),
        }
    }
}

/// SplitMix64: a small, fully specified generator, so the attacks do not
/// depend on a crate's choice of algorithm.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Roughly standard normal (sum of four uniforms, scaled).
    pub fn normal(&mut self) -> f32 {
        let s: f32 = (0..4).map(|_| self.unit()).sum();
        (s - 2.0) * 1.732_050_8
    }
}

/// A float RGB image, values 0..1.
struct Canvas {
    w: usize,
    h: usize,
    px: Vec<[f32; 3]>,
}

impl Canvas {
    fn from_image(img: &RgbImage) -> Self {
        let px = img
            .pixels()
            .map(|p| {
                [
                    p[0] as f32 / 255.0,
                    p[1] as f32 / 255.0,
                    p[2] as f32 / 255.0,
                ]
            })
            .collect();
        Self {
            w: img.width() as usize,
            h: img.height() as usize,
            px,
        }
    }

    fn new(w: usize, h: usize) -> Self {
        Self {
            w,
            h,
            px: vec![[0.0; 3]; w * h],
        }
    }

    /// Bilinear sample at (x, y) in pixel-centre coordinates, clamped.
    fn sample(&self, x: f32, y: f32) -> [f32; 3] {
        let x = x.clamp(0.0, (self.w - 1) as f32);
        let y = y.clamp(0.0, (self.h - 1) as f32);
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let (a, b) = (self.px[y0 * self.w + x0], self.px[y0 * self.w + x1]);
        let (c, d) = (self.px[y1 * self.w + x0], self.px[y1 * self.w + x1]);
        let mut out = [0.0; 3];
        for k in 0..3 {
            let top = a[k] * (1.0 - fx) + b[k] * fx;
            let bottom = c[k] * (1.0 - fx) + d[k] * fx;
            out[k] = top * (1.0 - fy) + bottom * fy;
        }
        out
    }

    /// Area-averaged downscale by `factor` (>= 1).
    fn shrink(&self, factor: f32) -> Canvas {
        let w = ((self.w as f32 / factor).round() as usize).max(1);
        let h = ((self.h as f32 / factor).round() as usize).max(1);
        let mut out = Canvas::new(w, h);
        let (fx, fy) = (self.w as f32 / w as f32, self.h as f32 / h as f32);
        for y in 0..h {
            let (sy0, sy1) = (
                (y as f32 * fy) as usize,
                (((y + 1) as f32 * fy) as usize)
                    .max((y as f32 * fy) as usize + 1)
                    .min(self.h),
            );
            for x in 0..w {
                let (sx0, sx1) = (
                    (x as f32 * fx) as usize,
                    (((x + 1) as f32 * fx) as usize)
                        .max((x as f32 * fx) as usize + 1)
                        .min(self.w),
                );
                let mut s = [0.0f32; 3];
                for yy in sy0..sy1 {
                    for xx in sx0..sx1 {
                        let p = self.px[yy * self.w + xx];
                        for k in 0..3 {
                            s[k] += p[k];
                        }
                    }
                }
                let n = ((sy1 - sy0) * (sx1 - sx0)).max(1) as f32;
                out.px[y * w + x] = [s[0] / n, s[1] / n, s[2] / n];
            }
        }
        out
    }

    /// 3×3 box blur.
    fn blur3(&mut self) {
        let src = self.px.clone();
        for y in 0..self.h {
            for x in 0..self.w {
                let mut s = [0.0f32; 3];
                let mut n = 0.0;
                for yy in y.saturating_sub(1)..(y + 2).min(self.h) {
                    for xx in x.saturating_sub(1)..(x + 2).min(self.w) {
                        let p = src[yy * self.w + xx];
                        for k in 0..3 {
                            s[k] += p[k];
                        }
                        n += 1.0;
                    }
                }
                self.px[y * self.w + x] = [s[0] / n, s[1] / n, s[2] / n];
            }
        }
    }

    fn add_noise(&mut self, rng: &mut Rng, sigma: f32) {
        for p in &mut self.px {
            for v in p.iter_mut() {
                *v += sigma * rng.normal();
            }
        }
    }

    fn to_image(&self) -> RgbImage {
        let mut out = RgbImage::new(self.w as u32, self.h as u32);
        for (o, p) in out.pixels_mut().zip(&self.px) {
            let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            *o = Rgb([q(p[0]), q(p[1]), q(p[2])]);
        }
        out
    }
}

/// Smooth value noise in [-1, 1] on a grid of `cell` pixels, seeded.
fn value_noise(w: usize, h: usize, cell: f32, rng: &mut Rng) -> Vec<f32> {
    let gw = (w as f32 / cell).ceil() as usize + 2;
    let gh = (h as f32 / cell).ceil() as usize + 2;
    let grid: Vec<f32> = (0..gw * gh).map(|_| rng.range(-1.0, 1.0)).collect();
    let mut out = vec![0.0; w * h];
    for y in 0..h {
        let gy = y as f32 / cell;
        let (y0, fy) = (gy.floor() as usize, gy.fract());
        let fy = fy * fy * (3.0 - 2.0 * fy);
        for x in 0..w {
            let gx = x as f32 / cell;
            let (x0, fx) = (gx.floor() as usize, gx.fract());
            let fx = fx * fx * (3.0 - 2.0 * fx);
            let g = |i: usize, j: usize| grid[j * gw + i];
            let top = g(x0, y0) * (1.0 - fx) + g(x0 + 1, y0) * fx;
            let bottom = g(x0, y0 + 1) * (1.0 - fx) + g(x0 + 1, y0 + 1) * fx;
            out[y * w + x] = top * (1.0 - fy) + bottom * fy;
        }
    }
    out
}

/// The photo shown on an RGB-stripe screen and photographed (see the
/// module docs for every step).
pub fn screen_replay(photo: &RgbImage, seed: u64) -> RgbImage {
    let mut rng = Rng::new(seed ^ 0x5C8E_E11A_0000_0001);
    let src = Canvas::from_image(photo);
    if src.w < 4 || src.h < 4 {
        return photo.clone();
    }
    let pitch = rng.range(1.6, 2.6);
    let angle = rng.range(-3.0, 3.0).to_radians();
    let screen = src.shrink(pitch);
    let gamma = rng.range(0.8, 1.25);
    let black = rng.range(0.03, 0.08);
    let tint = [
        rng.range(0.88, 0.95),
        rng.range(0.96, 1.0),
        rng.range(1.0, 1.06),
    ];
    let (gx, gy) = (
        rng.range(0.2, 0.8) * src.w as f32,
        rng.range(0.2, 0.8) * src.h as f32,
    );
    let glare_r = rng.range(0.15, 0.35) * src.w.max(src.h) as f32;
    let glare_a = rng.range(0.15, 0.35);
    let grid = rng.range(0.25, 0.5);
    let (cos, sin) = (angle.cos(), angle.sin());
    let (cx, cy) = (src.w as f32 / 2.0, src.h as f32 / 2.0);
    let (scx, scy) = (screen.w as f32 / 2.0, screen.h as f32 / 2.0);
    let mut out = Canvas::new(src.w, src.h);
    for y in 0..src.h {
        for x in 0..src.w {
            let mut acc = [0.0f32; 3];
            let mut flat = [0.0f32; 3];
            for sy in 0..3 {
                for sx in 0..3 {
                    let ox = x as f32 + (sx as f32 + 0.5) / 3.0 - cx;
                    let oy = y as f32 + (sy as f32 + 0.5) / 3.0 - cy;
                    // Camera position -> screen pixel coordinates.
                    let u = (cos * ox + sin * oy) / pitch + scx;
                    let v = (-sin * ox + cos * oy) / pitch + scy;
                    let (iu, iv) = (u.floor(), v.floor());
                    let (fu, fv) = (u - iu, v - iv);
                    let iu = (iu.max(0.0) as usize).min(screen.w - 1);
                    let iv = (iv.max(0.0) as usize).min(screen.h - 1);
                    let p = screen.px[iv * screen.w + iu];
                    let stripe = ((fu * 3.0) as usize).min(2);
                    let row = if fv > 0.85 { 0.35 } else { 1.0 };
                    acc[stripe] += 3.0 * p[stripe] * row;
                    for k in 0..3 {
                        flat[k] += p[k];
                    }
                }
            }
            let d2 = (x as f32 - gx).powi(2) + (y as f32 - gy).powi(2);
            let glare = glare_a * (-d2 / (2.0 * glare_r * glare_r)).exp();
            let mut px = [0.0f32; 3];
            for k in 0..3 {
                let shown = grid * acc[k] / 9.0 / 1.1 + (1.0 - grid) * flat[k] / 9.0;
                let v = shown.clamp(0.0, 1.0).powf(gamma);
                px[k] = black + (1.0 - black) * v * tint[k] + glare;
            }
            out.px[y * src.w + x] = px;
        }
    }
    out.blur3();
    out.add_noise(&mut rng, 0.01);
    out.to_image()
}

/// The photo printed on paper and photographed (see the module docs).
pub fn print_attack(photo: &RgbImage, seed: u64) -> RgbImage {
    let mut rng = Rng::new(seed ^ 0x9121_7A77_0000_0002);
    let mut c = Canvas::from_image(photo);
    let (w, h) = (c.w, c.h);
    let saturation = rng.range(0.45, 0.7);
    let white = rng.range(0.86, 0.92);
    let ink = rng.range(0.08, 0.14);
    let paper = [1.0, rng.range(0.97, 0.99), rng.range(0.9, 0.95)];
    let cell = rng.range(2.2, 3.2);
    let angles = [15.0f32, 75.0, 0.0].map(|a| a.to_radians());
    let texture = value_noise(w, h, 6.0, &mut rng);
    let (lx, ly) = (rng.range(-0.12, 0.12), rng.range(-0.12, 0.12));
    for y in 0..h {
        for x in 0..w {
            let p = c.px[y * w + x];
            let grey = (p[0] + p[1] + p[2]) / 3.0;
            let mut out = [0.0f32; 3];
            for k in 0..3 {
                let v = grey + (p[k] - grey) * saturation;
                // Ink coverage of this channel's dot, and the dot's edge.
                let coverage = (1.0 - v).clamp(0.0, 1.0);
                let (cs, sn) = (angles[k].cos(), angles[k].sin());
                let u = (x as f32 * cs + y as f32 * sn) / cell;
                let t = (-(x as f32) * sn + y as f32 * cs) / cell;
                let du = u - u.round();
                let dt = t - t.round();
                let dist = (du * du + dt * dt).sqrt() * cell;
                let radius = (coverage / std::f32::consts::PI).sqrt() * cell;
                let inked = (radius - dist + 0.5).clamp(0.0, 1.0);
                let level = white - (white - ink) * inked;
                let light =
                    1.0 + lx * (x as f32 / w as f32 - 0.5) + ly * (y as f32 / h as f32 - 0.5);
                out[k] = level * paper[k] * light * (1.0 + 0.04 * texture[y * w + x]);
            }
            c.px[y * w + x] = out;
        }
    }
    c.blur3();
    c.add_noise(&mut rng, 0.012);
    c.to_image()
}

/// Solves the 8 unknowns of the homography taking the unit square's
/// corners (0,0), (1,0), (1,1), (0,1) to `dst`; returns the 3×3 matrix.
fn homography(dst: [[f32; 2]; 4]) -> Option<[[f64; 3]; 3]> {
    let src = [[0.0f64, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
    let mut a = [[0.0f64; 9]; 8];
    for i in 0..4 {
        let (x, y) = (src[i][0], src[i][1]);
        let (u, v) = (dst[i][0] as f64, dst[i][1] as f64);
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..8 {
        let pivot = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        let pivot_row = a[col];
        for (row, r) in a.iter_mut().enumerate() {
            if row != col {
                let f = r[col] / pivot_row[col];
                for (v, p) in r.iter_mut().zip(pivot_row.iter()).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    let h: Vec<f64> = (0..8).map(|i| a[i][8] / a[i][i]).collect();
    Some([[h[0], h[1], h[2]], [h[3], h[4], h[5]], [h[6], h[7], 1.0]])
}

/// The inverse of a 3×3 matrix.
fn invert(m: [[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if det.abs() < 1e-12 {
        return None;
    }
    let c =
        |r0: usize, c0: usize, r1: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    Some([
        [
            c(1, 1, 2, 2) / det,
            -c(0, 1, 2, 2) / det,
            c(0, 1, 1, 2) / det,
        ],
        [
            -c(1, 0, 2, 2) / det,
            c(0, 0, 2, 2) / det,
            -c(0, 0, 1, 2) / det,
        ],
        [
            c(1, 0, 2, 1) / det,
            -c(0, 0, 2, 1) / det,
            c(0, 0, 1, 1) / det,
        ],
    ])
}

/// The photo, printed with a border, held in a scene and photographed at an
/// angle (see the module docs).
pub fn photo_of_photo(photo: &RgbImage, seed: u64) -> RgbImage {
    let mut rng = Rng::new(seed ^ 0x90F0_0F90_0000_0003);
    let src = Canvas::from_image(photo);
    let (w, h) = (src.w, src.h);
    if w < 4 || h < 4 {
        return photo.clone();
    }
    let border = rng.range(0.03, 0.05) * w.max(h) as f32;
    let (bw, bh) = (w as f32 + 2.0 * border, h as f32 + 2.0 * border);
    let mut scale = rng.range(0.5, 0.7) * w as f32 / bw;
    if bh * scale > 0.9 * h as f32 {
        scale = 0.9 * h as f32 / bh;
    }
    let (pw, ph) = (bw * scale, bh * scale);
    let cx = w as f32 / 2.0 + rng.range(-0.08, 0.08) * w as f32;
    let cy = h as f32 / 2.0 + rng.range(-0.04, 0.04) * h as f32;
    let mut jitter = || [rng.range(-0.06, 0.06) * pw, rng.range(-0.06, 0.06) * pw];
    let corners = [[-0.5f32, -0.5f32], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]].map(|[sx, sy]| {
        let j = jitter();
        [cx + sx * pw + j[0], cy + sy * ph + j[1]]
    });
    let Some(inverse) = homography(corners).and_then(invert) else {
        return photo.clone();
    };
    let paper = [rng.range(0.93, 0.98); 3];
    let base_a = [
        rng.range(0.2, 0.75),
        rng.range(0.2, 0.75),
        rng.range(0.2, 0.75),
    ];
    let base_b = [
        rng.range(0.2, 0.75),
        rng.range(0.2, 0.75),
        rng.range(0.2, 0.75),
    ];
    let texture = value_noise(w, h, 12.0, &mut rng);
    let gain = rng.range(0.85, 1.0);
    let mut out = Canvas::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let t = (x as f32 / w as f32 + y as f32 / h as f32) / 2.0;
            let mut px = [0.0f32; 3];
            for k in 0..3 {
                px[k] = (base_a[k] * (1.0 - t) + base_b[k] * t) * (1.0 + 0.15 * texture[y * w + x]);
            }
            // Where this scene pixel falls on the held photo (unit square).
            let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
            let d = inverse[2][0] * fx + inverse[2][1] * fy + inverse[2][2];
            let u = ((inverse[0][0] * fx + inverse[0][1] * fy + inverse[0][2]) / d) as f32;
            let v = ((inverse[1][0] * fx + inverse[1][1] * fy + inverse[1][2]) / d) as f32;
            if (0.0..1.0).contains(&u) && (0.0..1.0).contains(&v) {
                let (bx, by) = (u * bw - border, v * bh - border);
                px = if bx < 0.0 || by < 0.0 || bx >= w as f32 || by >= h as f32 {
                    paper
                } else {
                    src.sample(bx - 0.5, by - 0.5)
                };
            }
            out.px[y * w + x] = px.map(|v| v * gain);
        }
    }
    out.blur3();
    out.add_noise(&mut rng, 0.01);
    out.to_image()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo() -> RgbImage {
        RgbImage::from_fn(64, 48, |x, y| Rgb([(x * 4) as u8, (y * 5) as u8, 128]))
    }

    #[test]
    fn attacks_are_reproducible_and_depend_on_the_seed() {
        for kind in AttackKind::ALL {
            let a = kind.make(&photo(), 7);
            assert_eq!(a.dimensions(), (64, 48), "{}", kind.name());
            assert_eq!(
                a,
                kind.make(&photo(), 7),
                "{} is not reproducible",
                kind.name()
            );
            assert_ne!(
                a,
                kind.make(&photo(), 8),
                "{} ignores its seed",
                kind.name()
            );
            assert_ne!(a, photo(), "{} changed nothing", kind.name());
        }
    }

    #[test]
    fn homography_maps_the_unit_square_to_its_corners() {
        let dst = [[10.0, 5.0], [50.0, 8.0], [48.0, 40.0], [12.0, 37.0]];
        let m = homography(dst).unwrap_or([[0.0; 3]; 3]);
        for (s, d) in [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
            .iter()
            .zip(dst)
        {
            let w = m[2][0] * s[0] + m[2][1] * s[1] + m[2][2];
            let u = (m[0][0] * s[0] + m[0][1] * s[1] + m[0][2]) / w;
            let v = (m[1][0] * s[0] + m[1][1] * s[1] + m[1][2]) / w;
            assert!((u - d[0] as f64).abs() < 1e-6 && (v - d[1] as f64).abs() < 1e-6);
        }
        assert!(invert(m).is_some());
    }
}
