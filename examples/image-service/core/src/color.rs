//! Per-pixel colour operations: each maps R, G, B and leaves alpha alone.

use crate::{Image, to_channel};

/// `image` with `f` applied to every pixel's R, G and B.
pub(crate) fn map(image: &Image, f: impl Fn([u8; 3]) -> [u8; 3]) -> Image {
    let mut pixels = image.pixels.clone();
    for pixel in pixels.chunks_exact_mut(4) {
        let [r, g, b] = f([pixel[0], pixel[1], pixel[2]]);
        pixel[..3].copy_from_slice(&[r, g, b]);
    }
    Image {
        width: image.width,
        height: image.height,
        pixels,
    }
}

/// Luma (ITU-R BT.601): 0.299 R + 0.587 G + 0.114 B, into all three.
pub(crate) fn grayscale([r, g, b]: [u8; 3]) -> [u8; 3] {
    let luma = to_channel(0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b));
    [luma, luma, luma]
}

/// The sepia matrix.
pub(crate) fn sepia([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (r, g, b) = (f64::from(r), f64::from(g), f64::from(b));
    [
        to_channel(0.393 * r + 0.769 * g + 0.189 * b),
        to_channel(0.349 * r + 0.686 * g + 0.168 * b),
        to_channel(0.272 * r + 0.534 * g + 0.131 * b),
    ]
}

pub(crate) fn brightness(rgb: [u8; 3], delta: i32) -> [u8; 3] {
    rgb.map(|c| (i32::from(c) + delta).clamp(0, 255) as u8)
}

pub(crate) fn contrast(rgb: [u8; 3], factor: f64) -> [u8; 3] {
    rgb.map(|c| to_channel((f64::from(c) - 128.0) * factor + 128.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        // 0.299*200 + 0.587*100 + 0.114*50 = 59.8 + 58.7 + 5.7 = 124.2
        assert_eq!(grayscale([200, 100, 50]), [124, 124, 124]);
        // 0.299*255 = 76.245; 0.587*255 = 149.685 → 150; 0.114*255 = 29.07
        assert_eq!(grayscale([255, 0, 0]), [76, 76, 76]);
        assert_eq!(grayscale([0, 255, 0]), [150, 150, 150]);
        // R' = 0.393*100 + 0.769*150 + 0.189*200 = 39.3 + 115.35 + 37.8 = 192.45 → 192
        // G' = 34.9 + 102.9 + 33.6 = 171.4 → 171; B' = 27.2 + 80.1 + 26.2 = 133.5 → 134
        assert_eq!(sepia([100, 150, 200]), [192, 171, 134]);
        assert_eq!(sepia([255, 255, 255]), [255, 255, 239], "clamped");
        assert_eq!(brightness([10, 250, 128], 20), [30, 255, 148]);
        assert_eq!(brightness([10, 250, 128], -20), [0, 230, 108]);
        // (200-128)*1.5+128 = 236; (100-128)*1.5+128 = 86; (0-128)*1.5+128 = -64 → 0
        assert_eq!(contrast([200, 100, 0], 1.5), [236, 86, 0]);
        assert_eq!(contrast([200, 100, 0], 0.0), [128, 128, 128]);
    }

    #[test]
    fn alpha_is_untouched() {
        let image = Image::from_fn(3, 1, |x, _| [100, 150, 200, x as u8 * 100]);
        let sepia = map(&image, sepia);
        assert_eq!(sepia.pixel(2, 0), [192, 171, 134, 200]);
    }
}
