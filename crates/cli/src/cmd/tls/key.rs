//! Reading the CA's private key to sign with: PKCS#8 (`PRIVATE KEY`, what
//! `praetor tls ca create` writes), SEC1 (`EC PRIVATE KEY`, what Consul's
//! `tls ca create` writes) or PKCS#1 (`RSA PRIVATE KEY`). rcgen over ring
//! signs only with PKCS#8 keys, so the other two are wrapped into PKCS#8
//! here. Never writes or prints a key.

use rcgen::KeyPair;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// DER of the AlgorithmIdentifier contents for an EC key on P-256
/// (id-ecPublicKey, prime256v1) and on P-384 (id-ecPublicKey, secp384r1).
const EC_P256: &[u8] = &[
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
    0x03, 0x01, 0x07,
];
const EC_P384: &[u8] = &[
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22,
];
/// rsaEncryption with its NULL parameters.
const RSA: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// The signing key in `pem` (the first private key in it).
///
/// # Errors
/// No private key in the text, or one ring cannot sign with (a curve or
/// algorithm other than ECDSA P-256/P-384, Ed25519 or RSA), as one line
/// without key material.
pub fn parse(pem: &[u8]) -> anyhow::Result<KeyPair> {
    let der = PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| anyhow::anyhow!("no private key found ({e})"))?;
    let candidates: Vec<Vec<u8>> = match &der {
        PrivateKeyDer::Pkcs8(k) => vec![k.secret_pkcs8_der().to_vec()],
        PrivateKeyDer::Sec1(k) => vec![
            pkcs8(EC_P256, k.secret_sec1_der()),
            pkcs8(EC_P384, k.secret_sec1_der()),
        ],
        PrivateKeyDer::Pkcs1(k) => vec![pkcs8(RSA, k.secret_pkcs1_der())],
        _ => anyhow::bail!("unsupported private key format"),
    };
    candidates
        .into_iter()
        .find_map(|doc| {
            KeyPair::try_from(&PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(doc))).ok()
        })
        .ok_or_else(|| anyhow::anyhow!("unsupported or malformed private key"))
}

/// A PKCS#8 v1 PrivateKeyInfo holding `key` with the algorithm `alg`.
fn pkcs8(alg: &[u8], key: &[u8]) -> Vec<u8> {
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend(tlv(0x30, alg));
    body.extend(tlv(0x04, key));
    tlv(0x30, &body)
}

/// A DER tag-length-value.
fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A P-256 key in SEC1 form, as Go's `x509.MarshalECPrivateKey` (and so
    /// Consul's `tls ca create`) writes it: with the curve and the public key.
    /// A throwaway made for this test (`openssl ecparam -genkey -noout`).
    const SEC1_P256: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIK0ZzCyqOW3Emqtn9QVyKFsabmNQV6G+Bjpn0uCzVQ+aoAoGCCqGSM49
AwEHoUQDQgAEG+fr3afxq2sacGpdkbyIgbQvaj8cV4gI6Bq9u/T//vgjXDHXngiP
fgemhWf8Cml+doK0JRvaeqYcp2n+pBVS8Q==
-----END EC PRIVATE KEY-----
";

    #[test]
    fn a_pkcs8_key_from_praetor_is_read_as_it_is() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let read = parse(key.serialize_pem().as_bytes()).expect("read");
        assert_eq!(read.public_key_raw(), key.public_key_raw());
    }

    #[test]
    fn a_sec1_key_as_consul_writes_it_is_wrapped_and_signs() {
        let key = parse(SEC1_P256.as_bytes()).expect("read");
        assert!(std::ptr::eq(
            key.algorithm(),
            &rcgen::PKCS_ECDSA_P256_SHA256
        ));
        let params = rcgen::CertificateParams::new(vec!["x.consul".to_owned()]).expect("params");
        params.self_signed(&key).expect("signs");
    }

    #[test]
    fn text_without_a_key_is_refused_in_one_line() {
        let err = parse(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .expect_err("no key");
        assert!(!format!("{err:#}").contains('\n'), "{err:#}");
    }

    #[test]
    fn long_values_get_long_form_lengths() {
        assert_eq!(tlv(0x04, &[0; 3])[..2], [0x04, 3]);
        assert_eq!(tlv(0x04, &[0; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(tlv(0x04, &[0; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
    }
}
