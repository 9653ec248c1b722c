//! Geometric operations: resize (nearest or bilinear, pixel centres at +0.5), flip, rotate.
//! Alpha moves, and is interpolated, with its pixel.

use crate::ops::{Axis, Sampling};
use crate::{Image, to_channel};

/// The source coordinate of target coordinate `x` (its centre at x + 0.5).
fn source(x: u32, from: u32, to: u32) -> f64 {
    (f64::from(x) + 0.5) * f64::from(from) / f64::from(to) - 0.5
}

pub(crate) fn resize(image: &Image, width: u32, height: u32, sampling: Sampling) -> Image {
    let (w, h) = (image.width, image.height);
    match sampling {
        Sampling::Nearest => Image::from_fn(width, height, |x, y| {
            let sx = ((source(x, w, width) + 0.5).floor() as u32).min(w - 1);
            let sy = ((source(y, h, height) + 0.5).floor() as u32).min(h - 1);
            image.pixel(sx, sy)
        }),
        Sampling::Bilinear => Image::from_fn(width, height, |x, y| {
            let sx = source(x, w, width).clamp(0.0, f64::from(w - 1));
            let sy = source(y, h, height).clamp(0.0, f64::from(h - 1));
            let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
            let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
            let (fx, fy) = (sx - f64::from(x0), sy - f64::from(y0));
            let (p00, p10) = (image.pixel(x0, y0), image.pixel(x1, y0));
            let (p01, p11) = (image.pixel(x0, y1), image.pixel(x1, y1));
            std::array::from_fn(|c| {
                let top = (1.0 - fx) * f64::from(p00[c]) + fx * f64::from(p10[c]);
                let bottom = (1.0 - fx) * f64::from(p01[c]) + fx * f64::from(p11[c]);
                to_channel((1.0 - fy) * top + fy * bottom)
            })
        }),
    }
}

pub(crate) fn flip(image: &Image, axis: Axis) -> Image {
    let (w, h) = (image.width, image.height);
    Image::from_fn(w, h, |x, y| match axis {
        Axis::Horizontal => image.pixel(w - 1 - x, y),
        Axis::Vertical => image.pixel(x, h - 1 - y),
    })
}

/// Clockwise.
pub(crate) fn rotate(image: &Image, degrees: u16) -> Image {
    let (w, h) = (image.width, image.height);
    match degrees {
        90 => Image::from_fn(h, w, |x, y| image.pixel(y, h - 1 - x)),
        180 => Image::from_fn(w, h, |x, y| image.pixel(w - 1 - x, h - 1 - y)),
        270 => Image::from_fn(h, w, |x, y| image.pixel(w - 1 - y, x)),
        _ => unreachable!("the parser accepts 90, 180 and 270"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3×2 image whose pixels are numbered 0..6 in R (alpha 10 + number).
    fn numbered() -> Image {
        Image::from_fn(3, 2, |x, y| {
            let n = (y * 3 + x) as u8;
            [n, 0, 0, 10 + n]
        })
    }

    fn reds(image: &Image) -> Vec<u8> {
        image.pixels().chunks(4).map(|p| p[0]).collect()
    }

    #[test]
    fn flips_and_rotations_by_hand() {
        // 0 1 2      rotate 90 clockwise:  3 0
        // 3 4 5                            4 1
        //                                  5 2
        let image = numbered();
        assert_eq!(reds(&flip(&image, Axis::Horizontal)), [2, 1, 0, 5, 4, 3]);
        assert_eq!(reds(&flip(&image, Axis::Vertical)), [3, 4, 5, 0, 1, 2]);
        let turned = rotate(&image, 90);
        assert_eq!((turned.width(), turned.height()), (2, 3));
        assert_eq!(reds(&turned), [3, 0, 4, 1, 5, 2]);
        assert_eq!(reds(&rotate(&image, 180)), [5, 4, 3, 2, 1, 0]);
        assert_eq!(reds(&rotate(&image, 270)), [2, 5, 1, 4, 0, 3]);
        assert_eq!(
            rotate(&image, 90).pixel(0, 0)[3],
            13,
            "alpha moves with its pixel"
        );
    }

    #[test]
    fn resize_by_hand() {
        // 2×1 → 4×1 bilinear: target centres 0.5, 1.5, 2.5, 3.5 map to source -0.25 (clamped
        // to 0), 0.25, 0.75, 1.25 (clamped to 1): values 0, 25, 75, 100 for a 0 → 100 ramp.
        let ramp = Image::from_fn(2, 1, |x, _| [(x * 100) as u8, 0, 0, 255]);
        assert_eq!(
            reds(&resize(&ramp, 4, 1, Sampling::Bilinear)),
            [0, 25, 75, 100]
        );
        assert_eq!(
            reds(&resize(&ramp, 4, 1, Sampling::Nearest)),
            [0, 0, 100, 100]
        );
        // 4×1 → 2×1: centres at 0.5 and 2.5 of the source: halfway between pixels 0, 1 and 2, 3.
        let ramp4 = Image::from_fn(4, 1, |x, _| [(x * 10) as u8, 0, 0, (x * 20) as u8]);
        let half = resize(&ramp4, 2, 1, Sampling::Bilinear);
        assert_eq!(reds(&half), [5, 25]);
        assert_eq!(half.pixel(1, 0)[3], 50, "alpha interpolated too");
        assert_eq!(reds(&resize(&ramp4, 2, 1, Sampling::Nearest)), [10, 30]);
    }
}
