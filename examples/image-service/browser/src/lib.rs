//! `image-core` for the browser, through `wasm-bindgen`: the image service's page calls
//! [`apply`] on a canvas's RGBA pixels and gets the same bytes the server component computes.
//!
//! Built by `examples/image-service/build-web.sh` for `wasm32-unknown-unknown` into
//! `web/pkg`, which the page imports as an ES module.

// wasm-bindgen's generated glue is unsafe code; this crate writes none of its own.
#![allow(unsafe_code)]

use wasm_bindgen::prelude::*;

/// An image after the operations: its size and RGBA pixels.
#[wasm_bindgen]
pub struct Processed {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

#[wasm_bindgen]
impl Processed {
    /// Its width.
    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Its height.
    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Its RGBA pixels, row after row (a `Uint8Array` in JavaScript).
    pub fn pixels(&self) -> Vec<u8> {
        self.pixels.clone()
    }
}

/// Applies `ops` (the same syntax as the server's `?ops=`) to a `width × height` RGBA image.
#[wasm_bindgen]
pub fn apply(width: u32, height: u32, rgba: Vec<u8>, ops: &str) -> Result<Processed, JsError> {
    let ops = image_core::parse_ops(ops).map_err(|e| JsError::new(&e.to_string()))?;
    let image =
        image_core::Image::new(width, height, rgba).map_err(|e| JsError::new(&e.to_string()))?;
    let out = image
        .apply_all(&ops)
        .map_err(|e| JsError::new(&e.to_string()))?;
    Ok(Processed {
        width: out.width(),
        height: out.height(),
        pixels: out.into_pixels(),
    })
}

/// The operations' syntax, for the page's help text.
#[wasm_bindgen]
pub fn syntax() -> String {
    image_core::SYNTAX.to_string()
}
