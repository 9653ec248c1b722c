//! The operations and their text syntax: `grayscale`, `sepia`, `blur:<sigma>`,
//! `resize:<w>x<h>[:nearest|:bilinear]`, `brightness:<delta>`, `contrast:<factor>`,
//! `flip:h|v`, `rotate:90|180|270`, separated by commas in a chain.

use std::fmt;
use std::str::FromStr;

use crate::{Image, ImageError, MAX_SIDE, blur, color, geometry};

/// The accepted syntax, for error messages.
pub const SYNTAX: &str = "grayscale, sepia, blur:<sigma 0.1..=50>, \
    resize:<width>x<height>[:nearest|:bilinear] (1..=8192), brightness:<delta -255..=255>, \
    contrast:<factor 0..=10>, flip:h|v, rotate:90|180|270";

/// The most operations one chain may hold.
pub const MAX_OPS: usize = 32;

/// How a resize samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// The source pixel whose area holds the target pixel's centre.
    Nearest,
    /// The four source pixels around the target pixel's centre, weighted by distance.
    Bilinear,
}

/// Which way a flip goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Left and right swap.
    Horizontal,
    /// Top and bottom swap.
    Vertical,
}

/// One operation. Every one keeps alpha as it is: the colour operations leave it alone, the
/// geometric ones move (and resampling interpolates) it with its pixel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    /// Luma (0.299 R + 0.587 G + 0.114 B, rounded) into R, G and B.
    Grayscale,
    /// The classic sepia matrix, rounded and clamped.
    Sepia,
    /// A Gaussian blur of standard deviation `sigma` (0.1..=50), separable, radius ⌈3σ⌉,
    /// edge pixels repeated.
    Blur {
        /// The standard deviation, in pixels.
        sigma: f64,
    },
    /// Scales to `width × height` (pixel centres at +0.5).
    Resize {
        /// The new width.
        width: u32,
        /// The new height.
        height: u32,
        /// How.
        sampling: Sampling,
    },
    /// Adds `delta` (-255..=255) to R, G and B, clamped.
    Brightness {
        /// What to add.
        delta: i32,
    },
    /// Scales the distance of R, G and B from 128 by `factor` (0..=10), rounded and clamped.
    Contrast {
        /// The factor: below 1 flattens, above 1 sharpens.
        factor: f64,
    },
    /// Mirrors the image.
    Flip(Axis),
    /// Turns the image clockwise by 90, 180 or 270 degrees.
    Rotate {
        /// The angle.
        degrees: u16,
    },
}

/// An operation that cannot be read, with the text it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    /// The operation as written.
    pub op: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "operation \"{}\": {}; the operations are {SYNTAX}",
            self.op, self.problem
        )
    }
}

impl std::error::Error for OpError {}

fn number<T: FromStr>(op: &str, text: &str, what: &str) -> Result<T, OpError> {
    text.trim().parse().map_err(|_| OpError {
        op: op.into(),
        problem: format!("{what} \"{text}\" is not a number"),
    })
}

fn in_range<T: PartialOrd + fmt::Display + Copy>(
    op: &str,
    value: T,
    low: T,
    high: T,
    what: &str,
) -> Result<T, OpError> {
    if value >= low && value <= high {
        Ok(value)
    } else {
        Err(OpError {
            op: op.into(),
            problem: format!("{what} {value} is outside {low}..={high}"),
        })
    }
}

impl FromStr for Op {
    type Err = OpError;

    fn from_str(text: &str) -> Result<Self, OpError> {
        let op = text.trim();
        let (name, argument) = match op.split_once(':') {
            Some((name, argument)) => (name, Some(argument)),
            None => (op, None),
        };
        let needs = |what: &str| OpError {
            op: op.into(),
            problem: format!("{name} needs {what}"),
        };
        let takes_none = |parsed: Op| match argument {
            None => Ok(parsed),
            Some(_) => Err(OpError {
                op: op.into(),
                problem: format!("{name} takes no argument"),
            }),
        };
        match name {
            "grayscale" => takes_none(Self::Grayscale),
            "sepia" => takes_none(Self::Sepia),
            "blur" => {
                let sigma = argument.ok_or_else(|| needs("a sigma, such as blur:2"))?;
                let sigma = number::<f64>(op, sigma, "sigma")?;
                if !sigma.is_finite() {
                    return Err(needs("a finite sigma"));
                }
                Ok(Self::Blur {
                    sigma: in_range(op, sigma, 0.1, 50.0, "sigma")?,
                })
            }
            "resize" => {
                let argument = argument.ok_or_else(|| needs("a size, such as resize:640x480"))?;
                let (size, sampling) = match argument.split_once(':') {
                    Some((size, "nearest")) => (size, Sampling::Nearest),
                    Some((size, "bilinear")) => (size, Sampling::Bilinear),
                    Some((_, other)) => {
                        return Err(OpError {
                            op: op.into(),
                            problem: format!(
                                "sampling \"{other}\" is neither nearest nor bilinear"
                            ),
                        });
                    }
                    None => (argument, Sampling::Bilinear),
                };
                let (width, height) = size
                    .split_once('x')
                    .ok_or_else(|| needs("<width>x<height>, such as resize:640x480"))?;
                let width = number::<u32>(op, width, "width")?;
                let height = number::<u32>(op, height, "height")?;
                // Only zero is malformed here: a size over MAX_SIDE is well-formed but
                // produces an image too large, which `apply` refuses (a different answer).
                if width == 0 || height == 0 {
                    return Err(needs("a width and a height of at least 1"));
                }
                Ok(Self::Resize {
                    width,
                    height,
                    sampling,
                })
            }
            "brightness" => {
                let delta = argument.ok_or_else(|| needs("a delta, such as brightness:20"))?;
                let delta = number::<i32>(op, delta, "delta")?;
                Ok(Self::Brightness {
                    delta: in_range(op, delta, -255, 255, "delta")?,
                })
            }
            "contrast" => {
                let factor = argument.ok_or_else(|| needs("a factor, such as contrast:1.5"))?;
                let factor = number::<f64>(op, factor, "factor")?;
                if !factor.is_finite() {
                    return Err(needs("a finite factor"));
                }
                Ok(Self::Contrast {
                    factor: in_range(op, factor, 0.0, 10.0, "factor")?,
                })
            }
            "flip" => match argument {
                Some("h") => Ok(Self::Flip(Axis::Horizontal)),
                Some("v") => Ok(Self::Flip(Axis::Vertical)),
                _ => Err(needs("h or v, as flip:h or flip:v")),
            },
            "rotate" => match argument {
                Some("90") => Ok(Self::Rotate { degrees: 90 }),
                Some("180") => Ok(Self::Rotate { degrees: 180 }),
                Some("270") => Ok(Self::Rotate { degrees: 270 }),
                _ => Err(needs("90, 180 or 270, as rotate:90")),
            },
            "" => Err(OpError {
                op: op.into(),
                problem: "an empty operation".into(),
            }),
            _ => Err(OpError {
                op: op.into(),
                problem: format!("unknown operation \"{name}\""),
            }),
        }
    }
}

/// A chain of operations separated by commas, e.g. `resize:800x600,grayscale,blur:1.5`.
pub fn parse_ops(text: &str) -> Result<Vec<Op>, OpError> {
    if text.trim().is_empty() {
        return Err(OpError {
            op: String::new(),
            problem: "no operation given".into(),
        });
    }
    let ops: Vec<Op> = text.split(',').map(str::parse).collect::<Result<_, _>>()?;
    if ops.len() > MAX_OPS {
        return Err(OpError {
            op: text.into(),
            problem: format!("{} operations; at most {MAX_OPS}", ops.len()),
        });
    }
    Ok(ops)
}

impl Op {
    /// This operation applied to `image`.
    pub fn apply(&self, image: &Image) -> Result<Image, ImageError> {
        Ok(match *self {
            Self::Grayscale => color::map(image, color::grayscale),
            Self::Sepia => color::map(image, color::sepia),
            Self::Brightness { delta } => color::map(image, |rgb| color::brightness(rgb, delta)),
            Self::Contrast { factor } => color::map(image, |rgb| color::contrast(rgb, factor)),
            Self::Blur { sigma } => blur::gaussian(image, sigma),
            Self::Resize {
                width,
                height,
                sampling,
            } => {
                if width > MAX_SIDE || height > MAX_SIDE {
                    return Err(ImageError::TooLarge {
                        width: width.into(),
                        height: height.into(),
                    });
                }
                geometry::resize(image, width, height, sampling)
            }
            Self::Flip(axis) => geometry::flip(image, axis),
            Self::Rotate { degrees } => geometry::rotate(image, degrees),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_parses() {
        assert_eq!(
            parse_ops("grayscale, sepia,blur:2.5,resize:640x480,resize:10x20:nearest,brightness:-20,contrast:1.5,flip:h,flip:v,rotate:270")
                .unwrap(),
            [
                Op::Grayscale,
                Op::Sepia,
                Op::Blur { sigma: 2.5 },
                Op::Resize { width: 640, height: 480, sampling: Sampling::Bilinear },
                Op::Resize { width: 10, height: 20, sampling: Sampling::Nearest },
                Op::Brightness { delta: -20 },
                Op::Contrast { factor: 1.5 },
                Op::Flip(Axis::Horizontal),
                Op::Flip(Axis::Vertical),
                Op::Rotate { degrees: 270 },
            ]
        );
    }

    #[test]
    fn errors_name_the_op_and_the_syntax() {
        for (text, problem) in [
            ("sharpen", "unknown operation \"sharpen\""),
            ("blur", "blur needs a sigma"),
            ("blur:0", "sigma 0 is outside 0.1..=50"),
            ("blur:51", "sigma 51 is outside 0.1..=50"),
            ("blur:NaN", "blur needs a finite sigma"),
            ("blur:soft", "sigma \"soft\" is not a number"),
            ("resize:640", "resize needs <width>x<height>"),
            ("resize:0x10", "at least 1"),
            ("resize:10x10:bicubic", "sampling \"bicubic\""),
            ("brightness:300", "delta 300 is outside -255..=255"),
            ("contrast:-1", "factor -1 is outside 0..=10"),
            ("flip:x", "flip needs h or v"),
            ("rotate:45", "rotate needs 90, 180 or 270"),
            ("grayscale:2", "grayscale takes no argument"),
            ("sepia,,grayscale", "an empty operation"),
        ] {
            let error = parse_ops(text).unwrap_err();
            let message = error.to_string();
            assert!(message.contains(problem), "{text}: {message}");
            assert!(message.ends_with(SYNTAX), "{text}: {message}");
        }
        assert!(parse_ops("").is_err());
        assert!(parse_ops(&vec!["sepia"; 33].join(",")).is_err());
    }

    #[test]
    fn a_result_too_large_is_refused_when_applied() {
        let image = Image::from_fn(2, 2, |_, _| [1, 2, 3, 4]);
        let op: Op = "resize:9000x10".parse().unwrap();
        assert_eq!(
            op.apply(&image),
            Err(ImageError::TooLarge {
                width: 9000,
                height: 10
            })
        );
    }
}
