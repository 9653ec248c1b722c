//! TLS for tests: a throwaway certificate authority, certificates for `localhost` with chosen
//! validity, and client connections over TLS that say what they negotiated.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, date_time_ymd,
};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::Client;

/// A certificate authority made for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate and its key, as PEM, and the certificate's DER (to recognise it on the
/// wire).
pub struct Leaf {
    /// The certificate chain: the leaf, then the CA.
    pub cert_pem: String,
    /// The leaf's private key (PKCS#8).
    pub key_pem: String,
    /// The leaf certificate.
    pub der: CertificateDer<'static>,
}

/// Validity periods for [`TestCa::leaf`], as `(from year, to year)`.
pub mod years {
    /// Valid now (and for decades).
    pub const CURRENT: (i32, i32) = (2020, 2090);
    /// Expired.
    pub const EXPIRED: (i32, i32) = (2018, 2020);
    /// Not valid yet.
    pub const FUTURE: (i32, i32) = (2090, 2095);
}

impl TestCa {
    /// A fresh CA.
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(DnType::CommonName, "Tessera test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("CA key");
        Self {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    /// A certificate for `localhost` and `127.0.0.1` named `name`, valid over `years`.
    pub fn leaf(&self, name: &str, (from, to): (i32, i32)) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.not_before = date_time_ymd(from, 1, 1);
        params.not_after = date_time_ymd(to, 1, 1);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        Leaf {
            cert_pem: format!("{}{}", cert.pem(), self.issuer.pem()),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    /// A client configuration that trusts this CA, offers `alpn` (e.g. `[b"h2"]`) and does not
    /// resume sessions.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.issuer.der().clone()).expect("CA as a root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        // Each connection a full handshake: a resumed session would report the certificate
        // of the session it resumed, not the one the server presents now.
        config.resumption = rustls::client::Resumption::disabled();
        Arc::new(config)
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl Leaf {
    /// Writes `cert.pem` and `key.pem` into `dir`; their paths.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, &self.cert_pem).expect("cannot write cert.pem");
        std::fs::write(&key, &self.key_pem).expect("cannot write key.pem");
        (cert, key)
    }
}

/// What a TLS connection negotiated.
pub struct Negotiated {
    /// The ALPN protocol, if any.
    pub alpn: Option<Vec<u8>>,
    /// The certificate the server presented (the leaf).
    pub leaf: CertificateDer<'static>,
}

/// Opens a TLS connection to `addr` for the name `localhost`, then HTTP/2 if ALPN chose `h2`
/// and HTTP/1.1 otherwise.
pub async fn connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> std::io::Result<(Client, Negotiated)> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("a valid name");
    let stream = TlsConnector::from(config).connect(name, tcp).await?;
    let (_, session) = stream.get_ref();
    let negotiated = Negotiated {
        alpn: session.alpn_protocol().map(<[u8]>::to_vec),
        leaf: session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .expect("the server presents a certificate")
            .clone()
            .into_owned(),
    };
    let http2 = negotiated.alpn.as_deref() == Some(b"h2");
    let client = Client::over(stream, http2).await?;
    Ok((client, negotiated))
}
