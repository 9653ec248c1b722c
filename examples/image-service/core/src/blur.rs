//! The Gaussian blur: separable, radius ⌈3σ⌉, edge pixels repeated, alpha untouched.
//!
//! Each output row is made from the 2r+1 source rows around it (the vertical pass, into one
//! row of `f64` sums), then blurred along the row (the horizontal pass): the same two passes
//! as a whole-image intermediate, in memory for one row, so that an 8192-pixel-wide image
//! needs 200 KB besides itself rather than an image of `f64`s. Weights are `exp(-k²/2σ²)`
//! with `libm`'s `exp`, normalised to sum to 1, so that a constant image stays constant.

use crate::{Image, to_channel};

/// The normalised weights for offsets -r..=r.
fn weights(sigma: f64) -> Vec<f64> {
    let radius = (3.0 * sigma).ceil() as i64;
    let raw: Vec<f64> = (-radius..=radius)
        .map(|k| libm::exp(-((k * k) as f64) / (2.0 * sigma * sigma)))
        .collect();
    let sum: f64 = raw.iter().sum();
    raw.iter().map(|w| w / sum).collect()
}

pub(crate) fn gaussian(image: &Image, sigma: f64) -> Image {
    let weights = weights(sigma);
    let radius = (weights.len() / 2) as i64;
    let (width, height) = (image.width as usize, image.height as usize);
    let clamp = |i: i64, len: usize| i.clamp(0, len as i64 - 1) as usize;
    let mut out = image.pixels.clone();
    let mut column_sums = vec![0.0f64; width * 3];
    for y in 0..height {
        column_sums.fill(0.0);
        for (k, w) in weights.iter().enumerate() {
            let source = clamp(y as i64 + k as i64 - radius, height);
            let row = &image.pixels[source * width * 4..][..width * 4];
            for (sums, pixel) in column_sums.chunks_exact_mut(3).zip(row.chunks_exact(4)) {
                for c in 0..3 {
                    sums[c] += w * f64::from(pixel[c]);
                }
            }
        }
        let out_row = &mut out[y * width * 4..][..width * 4];
        for (x, pixel) in out_row.chunks_exact_mut(4).enumerate() {
            let mut sum = [0.0f64; 3];
            for (k, w) in weights.iter().enumerate() {
                let source = clamp(x as i64 + k as i64 - radius, width);
                for c in 0..3 {
                    sum[c] += w * column_sums[source * 3 + c];
                }
            }
            for c in 0..3 {
                pixel[c] = to_channel(sum[c]);
            }
        }
    }
    Image {
        width: image.width,
        height: image.height,
        pixels: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weights_are_a_normalised_bell() {
        let w = weights(1.0);
        assert_eq!(w.len(), 7, "radius 3");
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert_eq!(w[0], w[6]);
        assert!(w[3] > w[2] && w[2] > w[1]);
        // exp(-1/2) / exp(0): the ratio of the weights at 1 and 0.
        assert!((w[4] / w[3] - (-0.5f64).exp()).abs() < 1e-15);
    }

    #[test]
    fn an_impulse_spreads_by_the_weights() {
        // One white pixel in the middle of a black 9×9: the output at (4 + dx, 4 + dy) is
        // 255 · w(dx) · w(dy), by hand from the weights.
        let image = Image::from_fn(9, 9, |x, y| {
            let v = if (x, y) == (4, 4) { 255 } else { 0 };
            [v, v, v, 255]
        });
        let out = gaussian(&image, 1.0);
        let w = weights(1.0);
        for (dx, dy) in [(0, 0), (1, 0), (1, 1), (2, 1), (3, 3)] {
            let expected = (255.0 * w[3 + dx] * w[3 + dy]).round() as u8;
            assert_eq!(
                out.pixel(4 + dx as u32, 4 + dy as u32)[0],
                expected,
                "({dx}, {dy})"
            );
        }
        assert_eq!(out.pixel(4, 4), [41, 41, 41, 255]);
    }

    #[test]
    fn edges_repeat() {
        // A 1-pixel-wide image is its own neighbourhood: blurring a column of one colour
        // changes nothing, however large sigma is.
        let image = Image::from_fn(1, 5, |_, _| [9, 99, 199, 7]);
        assert_eq!(gaussian(&image, 50.0), image);
    }
}
