//! Certificates the harness makes for a cell: a throwaway CA and an nginx certificate it signs.
//! The CA goes to the ssl checks as their only trust root; the leaf and key go to `nginx/ssl`
//! and, when `CERTBOT_DOMAIN` is set, a second leaf for that domain goes where certbot would
//! have put it (research §4).
//!
//! Known-bad cells ask for a broken certificate with [`CERT_KEY`] in their `.env`, as users
//! end up with one: expired, issued for another host, or never copied to `nginx/ssl`.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, Issuer, KeyPair};

use crate::error::{Error, Result};

/// The cell `.env` key choosing the certificate nginx gets (the harness' own, not Dify's).
pub const CERT_KEY: &str = "DIFY_CONFORMANCE_TLS_CERT";

/// What kind of certificate a cell's nginx gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertKind {
    Valid,
    /// notAfter yesterday.
    Expired,
    /// Valid, but for `wrong-host.dify-conformance.test` only.
    WrongHost,
    /// The key is written, the certificate file is not: nginx cannot start.
    Missing,
}

impl CertKind {
    pub fn parse(value: Option<&str>) -> Result<Self> {
        match value.unwrap_or("").trim() {
            "" | "valid" => Ok(CertKind::Valid),
            "expired" => Ok(CertKind::Expired),
            "wrong-host" => Ok(CertKind::WrongHost),
            "missing" => Ok(CertKind::Missing),
            other => Err(Error::BadInput(format!(
                "{CERT_KEY}=`{other}` in the cell's env: expected valid, expired, wrong-host or missing"
            ))),
        }
    }
}

/// A leaf certificate and its key.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
}

pub struct CellPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
    pub kind: CertKind,
    /// The leaf under certbot's live directory, when `CERTBOT_DOMAIN` is set.
    pub certbot: Option<Leaf>,
}

fn fail(e: rcgen::Error) -> Error {
    Error::BadInput(format!("cannot make a certificate: {e}"))
}

fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    names: &[&str],
    common_name: String,
    expired: bool,
) -> Result<Leaf> {
    let key = KeyPair::generate().map_err(fail)?;
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .map_err(fail)?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    if expired {
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(90);
        params.not_after = now - time::Duration::days(1);
    }
    let cert = params.signed_by(&key, issuer).map_err(fail)?;
    Ok(Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().to_vec(),
    })
}

impl CellPki {
    /// A CA and a leaf valid for `names` (DNS names or IP addresses).
    pub fn generate(cell_id: &str, names: &[&str]) -> Result<Self> {
        Self::generate_for(cell_id, names, CertKind::Valid, None)
    }

    /// A CA, a leaf of `kind` for `names`, and one for `certbot_domain` when given.
    pub fn generate_for(
        cell_id: &str,
        names: &[&str],
        kind: CertKind,
        certbot_domain: Option<&str>,
    ) -> Result<Self> {
        let ca_key = KeyPair::generate().map_err(fail)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(
            DnType::CommonName,
            format!("dify-conformance CA for {cell_id}"),
        );
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(fail)?;
        let wrong = ["wrong-host.dify-conformance.test"];
        let main = leaf(
            &ca,
            if kind == CertKind::WrongHost {
                &wrong
            } else {
                names
            },
            format!("nginx of {cell_id}"),
            kind == CertKind::Expired,
        )?;
        let certbot = match certbot_domain {
            Some(domain) => {
                let mut all = names.to_vec();
                all.push(domain);
                Some(leaf(&ca, &all, format!("certbot live {domain}"), false)?)
            }
            None => None,
        };
        Ok(Self {
            ca_pem: ca.pem(),
            cert_pem: main.cert_pem,
            key_pem: main.key_pem,
            cert_der: main.cert_der,
            kind,
            certbot,
        })
    }

    /// The private keys' PEM body lines: secrets of the harness's own making, for the
    /// redactor (a log that dumps a key file shows them line by line).
    pub fn secrets(&self) -> Vec<String> {
        std::iter::once(&self.key_pem)
            .chain(self.certbot.as_ref().map(|l| &l.key_pem))
            .flat_map(|pem| pem.lines())
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("-----"))
            .map(str::to_owned)
            .collect()
    }

    /// The certificate nginx should serve: certbot's when there is one.
    pub fn served_der(&self) -> &[u8] {
        self.certbot
            .as_ref()
            .map(|l| l.cert_der.as_slice())
            .unwrap_or(&self.cert_der)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kinds_and_names_the_key_on_bad_values() {
        assert_eq!(CertKind::parse(None).unwrap(), CertKind::Valid);
        assert_eq!(CertKind::parse(Some("expired")).unwrap(), CertKind::Expired);
        let err = CertKind::parse(Some("old")).unwrap_err().to_string();
        assert!(err.contains("DIFY_CONFORMANCE_TLS_CERT=`old`"), "{err}");
    }

    #[test]
    fn certbot_leaf_differs_and_is_served() {
        let p = CellPki::generate_for("c", &["localhost"], CertKind::Valid, Some("dify.example"))
            .unwrap();
        let cb = p.certbot.as_ref().unwrap();
        assert_ne!(cb.cert_der, p.cert_der);
        assert_eq!(p.served_der(), cb.cert_der.as_slice());
    }
}
