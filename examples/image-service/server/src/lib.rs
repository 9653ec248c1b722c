//! The image service's server component.
//!
//! - `POST /api/process?ops=<op>,<op>,...[&format=png|jpeg|webp]` with a PNG, JPEG or WebP
//!   image as the body (its type read from its bytes, whatever the `Content-Type` says):
//!   `image-core`'s operations applied in order, the result in the same format unless
//!   `format` asks for another, `x-process-millis` the time the operations took (and
//!   `x-total-millis` with decoding and encoding).
//! - `GET /api/health`: `ok`.
//!
//! A malformed or unknown operation is a 400 naming it and the syntax; a body that is not
//! one of the three formats is a 415, one that is but does not decode a 400 with the
//! decoder's reason; an image (given or resulting) over 8192 pixels on a side is a 422. The
//! manifest's `body_limit` step answers 413 for a body over 20 MiB before this runs.

use std::io::Cursor;
use std::time::Instant;

use image::{DynamicImage, ImageFormat, ImageReader, Limits, RgbaImage};
use image_core::{Image, ImageError, MAX_SIDE, parse_ops};
use tessera_sdk::{Error, Request, Response, Result, Router, StatusCode};

fn handle(request: Request) -> Result<Response> {
    Router::new()
        .get("/api/health", |_| Ok(Response::text("ok")))
        .post("/api/process", process)
        .handle(request)
}

fn process(mut request: Request) -> Result<Response> {
    let ops = request.query_param("ops").ok_or_else(|| {
        Error::bad_request(format!(
            "give the operations: ?ops=<op>,<op>,...; the operations are {}",
            image_core::SYNTAX
        ))
    })?;
    let ops = parse_ops(&ops).map_err(|e| Error::bad_request(e.to_string()))?;
    let requested = match request.query_param("format").as_deref() {
        None => None,
        Some("png") => Some(ImageFormat::Png),
        Some("jpeg" | "jpg") => Some(ImageFormat::Jpeg),
        Some("webp") => Some(ImageFormat::WebP),
        Some(other) => {
            return Err(Error::bad_request(format!(
                "format \"{other}\" is not one of png, jpeg, webp"
            )));
        }
    };
    let body = request.bytes()?;
    let start = Instant::now();
    let (input, format) = decode(&body)?;
    let ops_start = Instant::now();
    let output = input.apply_all(&ops).map_err(too_large)?;
    let ops_time = ops_start.elapsed();
    let format = requested.unwrap_or(format);
    let encoded = encode(output, format)?;
    Ok(Response::bytes(format.to_mime_type(), encoded)
        .with_header("x-process-millis", &millis(ops_time))
        .with_header("x-total-millis", &millis(start.elapsed())))
}

fn millis(d: std::time::Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

#[expect(clippy::needless_pass_by_value, reason = "passed to map_err by name")]
fn too_large(error: ImageError) -> Error {
    Error::new(StatusCode::UNPROCESSABLE_ENTITY, error.to_string())
}

/// The body as an image and its format, told from its bytes.
fn decode(body: &[u8]) -> Result<(Image, ImageFormat)> {
    let format = image::guess_format(body).map_err(|_| {
        Error::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body is not a PNG, JPEG or WebP image (its first bytes match none of them)",
        )
    })?;
    if !matches!(
        format,
        ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP
    ) {
        return Err(Error::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("{format:?} images are not supported: send PNG, JPEG or WebP"),
        ));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    // An 8192×8192 RGBA image and the decoder's own buffers.
    limits.max_alloc = Some(512 << 20);
    let mut reader = ImageReader::with_format(Cursor::new(body), format);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the image is larger than this service takes ({MAX_SIDE} pixels on a side): {e}"
            ),
        ),
        other => Error::bad_request(format!("the {format:?} image cannot be decoded: {other}")),
    })?;
    let rgba = decoded.into_rgba8();
    let (width, height) = rgba.dimensions();
    let image =
        Image::new(width, height, rgba.into_raw()).map_err(|e| Error::internal(e.to_string()))?;
    Ok((image, format))
}

fn encode(image: Image, format: ImageFormat) -> Result<Vec<u8>> {
    let (width, height) = (image.width(), image.height());
    let rgba = RgbaImage::from_raw(width, height, image.into_pixels())
        .ok_or_else(|| Error::internal("the result's buffer does not fit its size"))?;
    let image = match format {
        // JPEG has no alpha channel.
        ImageFormat::Jpeg => DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rgba).into_rgb8()),
        _ => DynamicImage::ImageRgba8(rgba),
    };
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, format)
        .map_err(|e| Error::internal(format!("encoding {format:?}: {e}")))?;
    Ok(out.into_inner())
}

tessera_sdk::http_component!(handle);
