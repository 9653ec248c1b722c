//! Image filters on RGBA8 buffers, written once and used in two places: the image service's
//! server component (compiled to `wasm32-wasip2`) and its browser page (compiled with
//! `wasm-bindgen`), so that one algorithm gives the same pixels in both.
//!
//! Plain Rust: no Wasm-specific code and no dependency on Tessera. The arithmetic is `f64`
//! with fixed evaluation order and `libm`'s `exp`, so the output is the same, byte for byte,
//! on every target.
//!
//! ```
//! use image_core::{Image, parse_ops};
//! let mut image = Image::new(2, 1, vec![255, 0, 0, 255, 0, 0, 255, 128]).unwrap();
//! for op in parse_ops("grayscale,flip:h").unwrap() {
//!     image = op.apply(&image).unwrap();
//! }
//! // Alpha is kept as is: flipped along with its pixel, untouched by grayscale.
//! assert_eq!(image.pixels(), &[29, 29, 29, 128, 76, 76, 76, 255]);
//! ```
//!
//! # Layout
//! - [`Image`]: an RGBA8 image and its errors.
//! - [`Op`] and [`parse_ops`]: the operations and their syntax.
//! - `color`: per-pixel operations (grayscale, sepia, brightness, contrast).
//! - `blur`: the Gaussian blur.
//! - `geometry`: resize, flip, rotate.

mod blur;
mod color;
mod geometry;
mod ops;

pub use ops::{Axis, Op, OpError, SYNTAX, Sampling, parse_ops};

/// The largest width or height an operation may produce.
pub const MAX_SIDE: u32 = 8192;

/// An image: `width × height` pixels of 4 bytes (R, G, B, A), row after row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

/// Why an image cannot be made or processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// The buffer's length is not `width × height × 4`, or a side is zero.
    Shape {
        /// The width given.
        width: u32,
        /// The height given.
        height: u32,
        /// The buffer's length.
        len: usize,
    },
    /// The result would be larger than [`MAX_SIDE`] on a side.
    TooLarge {
        /// Its width.
        width: u64,
        /// Its height.
        height: u64,
    },
}

impl std::fmt::Display for ImageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Shape { width, height, len } => write!(
                f,
                "a {width}×{height} RGBA image needs {} bytes, not {len}",
                u64::from(*width) * u64::from(*height) * 4
            ),
            Self::TooLarge { width, height } => write!(
                f,
                "the result would be {width}×{height}, over {MAX_SIDE} pixels on a side"
            ),
        }
    }
}

impl std::error::Error for ImageError {}

impl Image {
    /// An image from its RGBA8 pixels.
    pub fn new(width: u32, height: u32, pixels: Vec<u8>) -> Result<Self, ImageError> {
        let expected = u64::from(width) * u64::from(height) * 4;
        if width == 0 || height == 0 || pixels.len() as u64 != expected {
            return Err(ImageError::Shape {
                width,
                height,
                len: pixels.len(),
            });
        }
        Ok(Self {
            width,
            height,
            pixels,
        })
    }

    /// A `width × height` image whose pixel (x, y) is `pixel(x, y)`.
    pub fn from_fn(width: u32, height: u32, mut pixel: impl FnMut(u32, u32) -> [u8; 4]) -> Self {
        let mut pixels = Vec::with_capacity(width as usize * height as usize * 4);
        for y in 0..height {
            for x in 0..width {
                pixels.extend_from_slice(&pixel(x, y));
            }
        }
        Self {
            width,
            height,
            pixels,
        }
    }

    /// The width.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// The height.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The RGBA8 pixels, row after row.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The pixels, taken.
    pub fn into_pixels(self) -> Vec<u8> {
        self.pixels
    }

    /// Pixel (x, y).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = (y as usize * self.width as usize + x as usize) * 4;
        [
            self.pixels[i],
            self.pixels[i + 1],
            self.pixels[i + 2],
            self.pixels[i + 3],
        ]
    }

    /// Applies `ops` in order.
    pub fn apply_all(&self, ops: &[Op]) -> Result<Self, ImageError> {
        let mut image = self.clone();
        for op in ops {
            image = op.apply(&image)?;
        }
        Ok(image)
    }
}

/// A channel value from a computed one: rounded to nearest (halves away from zero) and
/// clamped to 0..=255.
fn to_channel(value: f64) -> u8 {
    value.round().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_checked() {
        assert!(Image::new(2, 2, vec![0; 16]).is_ok());
        let error = Image::new(2, 2, vec![0; 15]).unwrap_err();
        assert_eq!(error.to_string(), "a 2×2 RGBA image needs 16 bytes, not 15");
        assert!(Image::new(0, 2, Vec::new()).is_err());
    }

    #[test]
    fn channels_round_and_clamp() {
        assert_eq!(to_channel(127.5), 128);
        assert_eq!(to_channel(127.49), 127);
        assert_eq!(to_channel(-3.0), 0);
        assert_eq!(to_channel(300.0), 255);
    }
}
