//! Certificates the harness makes for a cell: a throwaway CA and an nginx certificate it signs.
//! The CA goes to the ssl check as its only trust root; the leaf and key go to `nginx/ssl`.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

use crate::error::{Error, Result};

pub struct CellPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
}

impl CellPki {
    /// A CA and a leaf valid for `names` (DNS names or IP addresses).
    pub fn generate(cell_id: &str, names: &[&str]) -> Result<Self> {
        let fail = |e: rcgen::Error| Error::BadInput(format!("cannot make a certificate: {e}"));
        let ca_key = KeyPair::generate().map_err(fail)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(
            DnType::CommonName,
            format!("dify-conformance CA for {cell_id}"),
        );
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(fail)?;

        let key = KeyPair::generate().map_err(fail)?;
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .map_err(fail)?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("nginx of {cell_id}"));
        let cert = params.signed_by(&key, &ca).map_err(fail)?;
        Ok(Self {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        })
    }
}
