//! TLS: the certificate and key a server presents, read from PEM files, checked when they are
//! read, and re-read on demand ([`Tls::reload`], which `tessera up` calls on SIGHUP) without
//! touching the connections already open.
//!
//! The certificate sits behind an [`ArcSwap`] that rustls asks at each handshake, so a reload
//! is one pointer swap: handshakes after it present the new certificate, connections made
//! before keep the session they negotiated. ALPN offers `h2` and then `http/1.1`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, ServerConfig};
use tokio_rustls::TlsAcceptor;
use x509_cert::der::Decode;

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read the TLS {what} {}: {error}", path.display())]
    Read {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why (in the message, not a `source`: the message is whole on its own).
        error: io::Error,
    },
    /// A file is not the PEM it should be.
    #[error("{}: {reason}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what was expected.
        reason: String,
    },
    /// The key is not the certificate's.
    #[error(
        "the key {} does not belong to the certificate {} (their public keys differ): give the key the certificate was issued for",
        key.display(),
        cert.display()
    )]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// The certificate is outside its validity period.
    #[error("the certificate {} {when}: renew it", path.display())]
    Validity {
        /// The certificate file.
        path: PathBuf,
        /// `expired on …` or `is not valid before …`.
        when: String,
    },
    /// rustls refused the certificate or key for another reason (an unsupported key type).
    #[error("cannot use the TLS certificate {} with the key {}: {reason}", cert.display(), key.display())]
    Unusable {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        reason: String,
    },
}

/// A server's TLS set-up: the files, the certificate now presented, and the rustls config.
///
/// Cloning shares the certificate: a reload through one clone is seen by all.
#[derive(Clone)]
pub struct Tls {
    cert: Arc<Path>,
    key: Arc<Path>,
    current: Arc<Current>,
    acceptor: TlsAcceptor,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads and checks the PEM certificate chain (leaf first) and private key (PKCS#8,
    /// PKCS#1 or SEC1).
    pub fn load(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, TlsError> {
        let (cert, key): (Arc<Path>, Arc<Path>) = (cert.as_ref().into(), key.as_ref().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certified = read(&cert, &key, &provider)?;
        let current = Arc::new(Current {
            key: ArcSwap::from_pointee(certified),
            provider: provider.clone(),
        });
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            cert,
            key,
            current,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Re-reads the files. On success, new handshakes present the new certificate; on error
    /// the one presented so far stays (and the error says why).
    pub fn reload(&self) -> Result<(), TlsError> {
        let certified = read(&self.cert, &self.key, &self.current.provider)?;
        self.current.key.store(Arc::new(certified));
        Ok(())
    }

    /// The certificate file.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// What accepts TLS connections with this set-up.
    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

/// The certificate rustls is given at each handshake.
#[derive(Debug)]
struct Current {
    key: ArcSwap<CertifiedKey>,
    provider: Arc<CryptoProvider>,
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key.load_full())
    }
}

fn read(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let read = |what, path: &Path| {
        std::fs::read(path).map_err(|error| TlsError::Read {
            what,
            path: path.to_path_buf(),
            error,
        })
    };
    let pem_error = |path: &Path, reason: String| TlsError::Pem {
        path: path.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_slice_iter(&read("certificate", cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(cert, format!("not a PEM certificate chain: {e}")))?;
    let Some(leaf) = chain.first() else {
        return Err(pem_error(
            cert,
            "no certificate in it (expected a -----BEGIN CERTIFICATE----- block)".into(),
        ));
    };
    check_validity(cert, leaf, SystemTime::now())?;
    let private = match PrivateKeyDer::from_pem_slice(&read("key", key)?) {
        Ok(private) => private,
        Err(pem::Error::NoItemsFound) => {
            return Err(pem_error(
                key,
                "no private key in it (expected -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)".into(),
            ));
        }
        Err(e) => return Err(pem_error(key, format!("not a PEM private key: {e}"))),
    };
    CertifiedKey::from_der(chain, private, provider).map_err(|error| match error {
        rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => TlsError::Mismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        },
        other => TlsError::Unusable {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            reason: other.to_string(),
        },
    })
}

/// Refuses a leaf certificate that has expired or is not valid yet: clients would refuse it
/// at every handshake, which is harder to diagnose than a server that does not start.
fn check_validity(path: &Path, leaf: &CertificateDer<'_>, now: SystemTime) -> Result<(), TlsError> {
    let parsed = x509_cert::Certificate::from_der(leaf).map_err(|e| TlsError::Pem {
        path: path.to_path_buf(),
        reason: format!("the first certificate is not valid X.509: {e}"),
    })?;
    let validity = &parsed.tbs_certificate.validity;
    let when = if validity.not_after.to_system_time() < now {
        format!(
            "expired on {}",
            httpdate::fmt_http_date(validity.not_after.to_system_time())
        )
    } else if validity.not_before.to_system_time() > now {
        format!(
            "is not valid before {}",
            httpdate::fmt_http_date(validity.not_before.to_system_time())
        )
    } else {
        return Ok(());
    };
    Err(TlsError::Validity {
        path: path.to_path_buf(),
        when,
    })
}
