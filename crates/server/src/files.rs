//! Static files: a route's folder (`files = "web"`) served by the host, with content types,
//! `ETag` and `Last-Modified` revalidation (304), single byte ranges (206, 416), `index.html`
//! for folders, and no way out of the folder: a path with a `.` or `..` segment (encoded or
//! not) is a 404, and so is one whose real path (symbolic links resolved) leaves it.
//!
//! The route ends in `/...`; the router hands over the rest of the path in the
//! `tessera-path-rest` header, as it does for components, so middleware (compression above
//! all) wraps a files route like any other.

use std::ffi::OsStr;
use std::io::SeekFrom;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, LAST_MODIFIED, LOCATION, RANGE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, StreamBody};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::app::PATH_REST_HEADER;
use crate::middleware::{Chain, RequestBody, Responding, Step};
use crate::{Rejection, ResponseBody};

/// A folder of static files.
#[derive(Debug)]
pub(crate) struct StaticFiles {
    /// The folder, with every symbolic link resolved.
    root: PathBuf,
}

/// What a request asks for, once its path is resolved to a file inside the folder.
struct Found {
    path: PathBuf,
    length: u64,
    modified: Option<SystemTime>,
}

impl StaticFiles {
    /// Serves `dir`. It must exist (the manifest checked; a folder removed since is an error).
    pub(crate) fn new(dir: &Path) -> std::io::Result<Self> {
        Ok(Self {
            root: dir.canonicalize()?,
        })
    }

    /// As the end of a middleware chain.
    pub(crate) fn chain(self: &Arc<Self>) -> Chain {
        Chain::new(FilesStep(self.clone()))
    }

    /// Answers one request.
    pub(crate) async fn serve(&self, request: &Request<()>) -> Response<ResponseBody> {
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            return Rejection::MethodNotAllowed(vec![Method::GET, Method::HEAD])
                .into_response(None);
        }
        let rest = request
            .headers()
            .get(PATH_REST_HEADER)
            .map_or(&b""[..], HeaderValue::as_bytes);
        let Some(relative) = relative_path(rest) else {
            return Rejection::NoSuchFile.into_response(None);
        };
        let found = match self.find(&relative).await {
            Ok(Lookup::File(found)) => found,
            Ok(Lookup::Folder) => return redirect_to_folder(request.uri()),
            Ok(Lookup::Missing) => return Rejection::NoSuchFile.into_response(None),
            Err(error) => {
                tracing::warn!(path = %relative.display(), "a static file cannot be read: {error}");
                return Rejection::FileUnreadable.into_response(None);
            }
        };
        match respond(&found, request.method(), request.headers()).await {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(path = %found.path.display(), "a static file cannot be read: {error}");
                Rejection::FileUnreadable.into_response(None)
            }
        }
    }

    /// The file `relative` names, or its folder's `index.html`; `Missing` for anything that
    /// does not exist or resolves outside the folder.
    async fn find(&self, relative: &Path) -> std::io::Result<Lookup> {
        let inside = |path: std::io::Result<PathBuf>| -> std::io::Result<Option<PathBuf>> {
            match path {
                Ok(path) => Ok(path.starts_with(&self.root).then_some(path)),
                Err(e) if is_missing(&e) => Ok(None),
                Err(e) => Err(e),
            }
        };
        let Some(path) = inside(tokio::fs::canonicalize(self.root.join(relative)).await)? else {
            return Ok(Lookup::Missing);
        };
        let mut metadata = tokio::fs::metadata(&path).await?;
        let mut path = path;
        if metadata.is_dir() {
            if !relative.as_os_str().is_empty() && !ends_with_slash(relative) {
                return Ok(Lookup::Folder);
            }
            let Some(index) = inside(tokio::fs::canonicalize(path.join("index.html")).await)?
            else {
                return Ok(Lookup::Missing);
            };
            path = index;
            metadata = tokio::fs::metadata(&path).await?;
        }
        if !metadata.is_file() {
            return Ok(Lookup::Missing);
        }
        Ok(Lookup::File(Found {
            path,
            length: metadata.len(),
            modified: metadata.modified().ok(),
        }))
    }
}

enum Lookup {
    File(Found),
    /// A folder asked for without its trailing slash.
    Folder,
    Missing,
}

fn is_missing(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// Whether the path the client gave ends in `/` (a folder's own address).
fn ends_with_slash(relative: &Path) -> bool {
    relative.as_os_str().as_bytes().ends_with(b"/")
}

/// The rest of the request's path as a path below the folder: segments percent-decoded,
/// empty ones dropped, a trailing slash kept. `None` for a `.` or `..` segment, or one that
/// decodes to a `/` or a NUL byte: such a request gets a 404 whatever the folder holds.
pub(crate) fn relative_path(rest: &[u8]) -> Option<PathBuf> {
    let mut path = Vec::new();
    for segment in rest.split(|&b| b == b'/').filter(|s| !s.is_empty()) {
        let decoded: Vec<u8> = percent_encoding::percent_decode(segment).collect();
        if decoded == b"." || decoded == b".." || decoded.contains(&b'/') || decoded.contains(&0) {
            return None;
        }
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(&decoded);
    }
    if rest.ends_with(b"/") && !path.is_empty() {
        path.push(b'/');
    }
    Some(PathBuf::from(OsStr::from_bytes(&path)))
}

/// 308 to the folder's address with a slash, so that its page's relative links resolve.
fn redirect_to_folder(uri: &http::Uri) -> Response<ResponseBody> {
    let location = match uri.query() {
        Some(query) => format!("{}/?{query}", uri.path()),
        None => format!("{}/", uri.path()),
    };
    let mut response = Response::new(ResponseBody::default());
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

/// A strong validator from the file's length and modification time.
fn etag(found: &Found) -> String {
    let nanos = found
        .modified
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("\"{:x}-{:x}\"", found.length, nanos)
}

/// Whether an `If-None-Match` list names `etag` (weak comparison, as RFC 9110 asks for it).
pub(crate) fn none_match(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// A single byte range of a file of `length` bytes: `Ok(None)` for a header that is not one
/// range (answered whole, as RFC 9110 allows), `Err(())` for one outside the file.
pub(crate) fn byte_range(header: &str, length: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    let (start, end) = match (first.trim().is_empty(), parse(first), parse(last)) {
        // "-n": the last n bytes.
        (true, _, Some(suffix)) if suffix > 0 => {
            (length.saturating_sub(suffix), length.saturating_sub(1))
        }
        (true, _, _) => return Err(()),
        (false, Some(start), None) if last.trim().is_empty() => (start, length.saturating_sub(1)),
        (false, Some(start), Some(end)) if start <= end => {
            (start, end.min(length.saturating_sub(1)))
        }
        _ => return Ok(None),
    };
    if length == 0 || start >= length {
        return Err(());
    }
    Ok(Some((start, end)))
}

async fn respond(
    found: &Found,
    method: &Method,
    headers: &HeaderMap,
) -> std::io::Result<Response<ResponseBody>> {
    let etag = etag(found);
    let last_modified = found.modified.map(httpdate::fmt_http_date);
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let mut response = Response::new(ResponseBody::default());
    let out = response.headers_mut();
    out.insert(ETAG, HeaderValue::from_str(&etag).expect("hex and quotes"));
    if let Some(date) = &last_modified {
        out.insert(
            LAST_MODIFIED,
            HeaderValue::from_str(date).expect("an HTTP date"),
        );
    }
    // Clients may keep a copy, and ask again each time; the ETag makes that a 304.
    out.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));

    let not_modified = match (header(IF_NONE_MATCH), header(IF_MODIFIED_SINCE)) {
        (Some(tags), _) => none_match(tags, &etag),
        (None, Some(since)) => match (httpdate::parse_http_date(since), found.modified) {
            (Ok(since), Some(modified)) => {
                // HTTP dates have whole seconds.
                let modified = modified
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let since = since.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                modified <= since
            }
            _ => false,
        },
        (None, None) => false,
    };
    if not_modified {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(response);
    }

    let content_type = content_type(&found.path);
    out.insert(CONTENT_TYPE, content_type);
    // A range applies only if the client's copy is this version (If-Range).
    let range_applies =
        header(IF_RANGE).is_none_or(|tag| tag == etag || Some(tag) == last_modified.as_deref());
    let (status, start, len) = match header(RANGE).filter(|_| range_applies) {
        Some(range) => match byte_range(range, found.length) {
            Ok(Some((start, end))) => {
                out.insert(
                    CONTENT_RANGE,
                    HeaderValue::from_str(&format!("bytes {start}-{end}/{}", found.length))
                        .expect("numbers"),
                );
                (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
            }
            Ok(None) => (StatusCode::OK, 0, found.length),
            Err(()) => {
                return Ok(Rejection::RangeNotSatisfiable {
                    length: found.length,
                }
                .into_response(None));
            }
        },
        None => (StatusCode::OK, 0, found.length),
    };
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    response.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if *method == Method::HEAD {
        return Ok(response);
    }
    let mut file = tokio::fs::File::open(&found.path).await?;
    if start > 0 {
        file.seek(SeekFrom::Start(start)).await?;
    }
    let stream = tokio_util::io::ReaderStream::new(file.take(len));
    let body = StreamBody::new(futures_frames(stream));
    *response.body_mut() = ResponseBody::Boxed(body.boxed_unsync());
    Ok(response)
}

/// The file's bytes as body frames.
fn futures_frames(
    stream: tokio_util::io::ReaderStream<tokio::io::Take<tokio::fs::File>>,
) -> impl futures_util::Stream<Item = Result<http_body::Frame<Bytes>, crate::BoxError>> {
    use futures_util::StreamExt as _;
    stream.map(|chunk| chunk.map(http_body::Frame::data).map_err(Into::into))
}

/// The `Content-Type` for a file, from its extension; text in UTF-8.
fn content_type(path: &Path) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let text = mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.essence_str(),
            "application/javascript" | "application/json" | "image/svg+xml"
        );
    let value = if text && mime.get_param("charset").is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// A files route as the end of a middleware chain.
struct FilesStep(Arc<StaticFiles>);

impl Step for FilesStep {
    fn call(&self, request: Request<RequestBody>) -> Responding {
        let files = self.0.clone();
        // The body is not needed (GET and HEAD) and not `Sync`: only the head goes along.
        let (parts, _body) = request.into_parts();
        let request = Request::from_parts(parts, ());
        Box::pin(async move { files.serve(&request).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_never_leave_the_folder() {
        assert_eq!(relative_path(b"a/b.txt"), Some(PathBuf::from("a/b.txt")));
        assert_eq!(relative_path(b"//a//b.txt"), Some(PathBuf::from("a/b.txt")));
        assert_eq!(
            relative_path(b"my%20file.txt"),
            Some(PathBuf::from("my file.txt"))
        );
        assert_eq!(relative_path(b"docs/"), Some(PathBuf::from("docs/")));
        assert_eq!(relative_path(b""), Some(PathBuf::new()));
        for escape in [
            &b"../etc/passwd"[..],
            b"a/../../x",
            b"%2e%2e/x",
            b"%2E%2e/x",
            b"a/%2f/b",
            b".",
            b"a/./b",
            b"a%00b",
        ] {
            assert_eq!(
                relative_path(escape),
                None,
                "{}",
                String::from_utf8_lossy(escape)
            );
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(byte_range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(byte_range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(byte_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(byte_range("bytes=50-500", 100), Ok(Some((50, 99))));
        assert_eq!(byte_range("bytes=100-", 100), Err(()));
        assert_eq!(byte_range("bytes=-0", 100), Err(()));
        assert_eq!(
            byte_range("bytes=0-1,5-6", 100),
            Ok(None),
            "several ranges: the whole file"
        );
        assert_eq!(byte_range("items=0-1", 100), Ok(None));
        assert_eq!(byte_range("bytes=9-3", 100), Ok(None));
    }

    #[test]
    fn validators() {
        assert!(none_match("\"a\", W/\"b\"", "\"b\""));
        assert!(none_match("*", "\"x\""));
        assert!(!none_match("\"a\"", "\"b\""));
        let css = content_type(Path::new("style.css"));
        assert_eq!(css, "text/css; charset=utf-8");
        assert_eq!(content_type(Path::new("a.wasm")), "application/wasm");
        assert_eq!(content_type(Path::new("a.png")), "image/png");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }
}
