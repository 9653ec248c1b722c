//! The image service end to end: `examples/image-service` built with `tessera build` (the
//! component and the page's Wasm), served by `tessera up`, its output checked byte for byte
//! against `image-core` compiled natively, its bad input answered as the README says, and its
//! page driven in headless Chromium (Debian's, through playwright-core) to show that browser
//! Wasm, server and native agree and that the JavaScript version is within one of them.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use image::{ImageFormat, RgbaImage};
use image_core::{Image, parse_ops};
use tessera_test_support::{
    Client, Reply, Server, WORKSPACE_ROOT, full, get, request, status_of_head,
};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

fn manifest() -> PathBuf {
    Path::new(WORKSPACE_ROOT).join("examples/image-service/tessera.toml")
}

/// Runs `tessera build` on the app once per test process: the component (fresh already, the
/// test support built it the same way) and the page's Wasm (web/pkg).
fn built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let state = tempfile::tempdir().expect("tempdir");
        let output = std::process::Command::new(TESSERA)
            .args(["build", "--manifest"])
            .arg(manifest())
            .arg("--state-dir")
            .arg(state.path())
            .output()
            .expect("run tessera build");
        assert!(
            output.status.success(),
            "tessera build failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    });
}

/// Test images: a gradient, noise, and something photo-like (soft shapes, shading, grain).
fn images() -> Vec<(&'static str, Image)> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let gradient = Image::from_fn(320, 240, |x, y| {
        [
            (x * 255 / 319) as u8,
            (y * 255 / 239) as u8,
            ((x + y) / 3) as u8,
            255,
        ]
    });
    let noise = Image::from_fn(97, 61, |_, _| {
        let v = random();
        [v as u8, (v >> 8) as u8, (v >> 16) as u8, 255]
    });
    let photo = Image::from_fn(400, 300, |x, y| {
        let (fx, fy) = (f64::from(x) / 400.0, f64::from(y) / 300.0);
        let sky = 1.0 - fy;
        let sun = (-((fx - 0.7).powi(2) + (fy - 0.3).powi(2)) * 40.0).exp();
        let hill = if fy > 0.6 + 0.1 * (fx * 9.0).sin() {
            1.0
        } else {
            0.0
        };
        let grain = (random() % 9) as f64 - 4.0;
        let r = 60.0 + 120.0 * sky + 180.0 * sun - 40.0 * hill + grain;
        let g = 90.0 + 100.0 * sky + 150.0 * sun + 60.0 * hill + grain;
        let b = 140.0 + 110.0 * sky + 30.0 * sun - 90.0 * hill + grain;
        [
            r.clamp(0.0, 255.0) as u8,
            g.clamp(0.0, 255.0) as u8,
            b.clamp(0.0, 255.0) as u8,
            255,
        ]
    });
    vec![("gradient", gradient), ("noise", noise), ("photo", photo)]
}

fn encode(image: &Image, format: ImageFormat) -> Vec<u8> {
    let rgba =
        RgbaImage::from_raw(image.width(), image.height(), image.pixels().to_vec()).expect("sizes");
    let mut out = Cursor::new(Vec::new());
    let dynamic = image::DynamicImage::ImageRgba8(rgba);
    let dynamic = if format == ImageFormat::Jpeg {
        image::DynamicImage::ImageRgb8(dynamic.into_rgb8())
    } else {
        dynamic
    };
    dynamic.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

fn decode(bytes: &[u8]) -> Image {
    let rgba = image::load_from_memory(bytes)
        .expect("a decodable answer")
        .into_rgba8();
    let (w, h) = rgba.dimensions();
    Image::new(w, h, rgba.into_raw()).expect("sizes")
}

async fn process(
    addr: std::net::SocketAddr,
    query: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Reply {
    Client::http1(addr)
        .await
        .fetch(
            request("POST", &format!("/api/process?{query}"))
                .header("content-type", content_type)
                .body(full(body))
                .expect("a request"),
        )
        .await
}

fn encode_query(ops: &str) -> String {
    ops.replace(':', "%3A").replace(',', "%2C")
}

const CHAINS: [&str; 9] = [
    "grayscale",
    "sepia",
    "blur:2.5",
    "resize:123x77",
    "resize:50x40:nearest",
    "brightness:-30,contrast:1.4",
    "flip:h,rotate:90",
    "rotate:270,flip:v",
    "resize:200x150,sepia,blur:1.2,rotate:180",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_image_service_matches_image_core_byte_for_byte() {
    built();
    let server = Server::start(TESSERA, &manifest());
    let addr = server.addr();
    assert_eq!(get(addr, "/api/health").await.text(), "ok");

    for (name, image) in images() {
        let png = encode(&image, ImageFormat::Png);
        for chain in CHAINS {
            let reply = process(
                addr,
                &format!("ops={}", encode_query(chain)),
                "image/png",
                png.clone(),
            )
            .await;
            assert_eq!(reply.status, 200, "{name} {chain}: {}", reply.text());
            assert_eq!(reply.header("content-type"), Some("image/png"));
            assert!(
                reply
                    .header("x-process-millis")
                    .is_some_and(|m| m.parse::<f64>().is_ok())
            );
            let native = image.apply_all(&parse_ops(chain).unwrap()).unwrap();
            assert!(
                decode(&reply.body) == native,
                "{name} {chain}: the server's pixels differ from image-core's"
            );
        }
    }

    // Formats: the answer is in the body's own format unless one is asked for; the type is
    // read from the bytes, not from Content-Type.
    let (_, gradient) = &images()[0];
    for (format, mime) in [
        (ImageFormat::Jpeg, "image/jpeg"),
        (ImageFormat::WebP, "image/webp"),
        (ImageFormat::Png, "image/png"),
    ] {
        let reply = process(
            addr,
            "ops=grayscale",
            "application/octet-stream",
            encode(gradient, format),
        )
        .await;
        assert_eq!(
            (reply.status.as_u16(), reply.header("content-type")),
            (200, Some(mime)),
            "{format:?}"
        );
        assert_eq!(image::guess_format(&reply.body).unwrap(), format);
    }
    let webp_in = encode(gradient, ImageFormat::WebP);
    let lossless = process(addr, "ops=flip:h&format=png", "image/webp", webp_in).await;
    assert_eq!(lossless.header("content-type"), Some("image/png"));
    assert!(
        decode(&lossless.body) == gradient.apply_all(&parse_ops("flip:h").unwrap()).unwrap(),
        "WebP is lossless"
    );
    let mislabelled = process(
        addr,
        "ops=sepia",
        "image/jpeg",
        encode(gradient, ImageFormat::Png),
    )
    .await;
    assert_eq!(mislabelled.header("content-type"), Some("image/png"));

    // Bad input.
    let png = encode(gradient, ImageFormat::Png);
    for (query, status, needle) in [
        (
            "ops=sharpen",
            400,
            "operation \"sharpen\": unknown operation",
        ),
        ("ops=blur%3Asoft", 400, "sigma \"soft\" is not a number"),
        (
            "ops=grayscale%2Crotate%3A45",
            400,
            "rotate needs 90, 180 or 270",
        ),
        ("", 400, "give the operations"),
        ("ops=sepia&format=gif", 400, "format \"gif\""),
        ("ops=resize%3A9000x10", 422, "over 8192 pixels on a side"),
    ] {
        let reply = process(addr, query, "image/png", png.clone()).await;
        assert_eq!(reply.status, status, "{query}: {}", reply.text());
        let error = reply.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(error.contains(needle), "{query}: {error}");
        if status == 400 && query.starts_with("ops=") && !query.contains("format") {
            assert!(
                error.contains("the operations are grayscale, sepia, blur:"),
                "{query}: {error}"
            );
        }
    }
    let not_an_image = process(addr, "ops=sepia", "image/png", b"hello, world".to_vec()).await;
    assert_eq!(not_an_image.status, 415, "{}", not_an_image.text());
    let gif = process(
        addr,
        "ops=sepia",
        "image/gif",
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(),
    )
    .await;
    assert_eq!(gif.status, 415, "{}", gif.text());
    let truncated = process(
        addr,
        "ops=sepia",
        "image/png",
        png[..png.len() / 2].to_vec(),
    )
    .await;
    assert_eq!(truncated.status, 400, "{}", truncated.text());
    assert!(
        truncated.json()["error"]
            .as_str()
            .unwrap()
            .contains("cannot be decoded")
    );
    assert_eq!(
        status_of_head(addr, "POST /api/process?ops=sepia", "image/png", 21 << 20).await,
        413
    );

    // The page, from the same app.
    let page = get(addr, "/").await;
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text().contains("One image core, three places"));
    let wasm = get(addr, "/pkg/image_browser_bg.wasm").await;
    assert_eq!(
        (wasm.status.as_u16(), wasm.header("content-type")),
        (200, Some("application/wasm"))
    );
    let script = Client::http1(addr)
        .await
        .fetch(
            request("GET", "/filters.js")
                .header("accept-encoding", "gzip")
                .body(tessera_test_support::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(script.header("content-encoding"), Some("gzip"));
}

fn base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0);
    for byte in text.bytes().filter(|&b| b != b'=') {
        let value = ALPHABET.iter().position(|&a| a == byte).expect("base64") as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_agrees_with_the_server_in_headless_chromium() {
    built();
    let server = Server::start(TESSERA, &manifest());
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("photo", "resize:320x240,sepia,blur:1.5"),
        ("gradient", "grayscale,contrast:1.3,rotate:90"),
        ("noise", "blur:3,flip:h,resize:60x40:nearest"),
    ];
    let images = images();
    let mut args = Vec::new();
    for (name, chain) in cases {
        let image = &images.iter().find(|(n, _)| *n == name).expect("an image").1;
        let file = dir.path().join(format!("{name}.png"));
        std::fs::write(&file, encode(image, ImageFormat::Png)).expect("write");
        args.push(format!("{}::{chain}", file.display()));
    }
    let browser = Path::new(WORKSPACE_ROOT).join("tests/browser");
    let output = std::process::Command::new("node")
        .current_dir(&browser)
        .arg("image-page.mjs")
        .arg(format!("http://{}/", server.addr()))
        .arg(dir.path())
        .args(&args)
        .output()
        .expect("run node (scripts/test.sh installs Node.js, Chromium and playwright-core)");
    assert!(
        output.status.success(),
        "the page test failed:\n{}\n{}\nthe server's log:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );
    // The screenshot, kept as a test artifact.
    let artifacts = Path::new(WORKSPACE_ROOT).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("mkdir");
    std::fs::copy(
        dir.path().join("page.png"),
        artifacts.join("image-service-page.png"),
    )
    .expect("the screenshot");

    for (index, (name, chain)) in cases.iter().enumerate() {
        let text = std::fs::read_to_string(dir.path().join(format!("{index}.json")))
            .expect("the page's results");
        let result: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let image = &images.iter().find(|(n, _)| n == name).expect("an image").1;
        assert_eq!(
            base64(result["source"]["pixels"].as_str().unwrap()),
            image.pixels(),
            "{name}: the page read the file as it is"
        );
        let native = image.apply_all(&parse_ops(chain).unwrap()).unwrap();
        let pixels = |which: &str| base64(result["results"][which]["pixels"].as_str().unwrap());
        assert_eq!(result["results"]["wasm"]["width"], native.width(), "{name}");
        assert!(
            pixels("wasm") == native.pixels(),
            "{name} {chain}: browser Wasm differs from native image-core"
        );
        assert!(
            pixels("server") == native.pixels(),
            "{name} {chain}: the server differs from native image-core"
        );
        let js = pixels("js");
        assert_eq!(js.len(), native.pixels().len());
        let worst = js
            .iter()
            .zip(native.pixels())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap_or(0);
        assert!(
            worst <= 1,
            "{name} {chain}: JavaScript differs by up to {worst}"
        );
        assert!(
            result["verdict"]
                .as_str()
                .unwrap()
                .starts_with("Browser Wasm and server: identical pixels.")
        );
        eprintln!(
            "{name} ({}×{}) {chain}: wasm {:.1} ms, js {:.1} ms, server {:.1} ms",
            image.width(),
            image.height(),
            result["results"]["wasm"]["millis"].as_f64().unwrap(),
            result["results"]["js"]["millis"].as_f64().unwrap(),
            result["results"]["server"]["millis"].as_f64().unwrap()
        );
    }
}
