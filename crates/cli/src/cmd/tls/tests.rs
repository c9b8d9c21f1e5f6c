//! What `praetor tls` generates, read back with x509-parser: the CA's
//! usages, validity and name constraints; each kind of certificate's names
//! and usages; signing with a CA Consul made; and what is refused.

use std::net::IpAddr;
use std::path::Path;

use rcgen::{DnType, DnValue, KeyPair};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::pem::parse_x509_pem;

use super::ca::{self, CaSpec, Generated};
use super::cert::{self, CertSpec, Kind};

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn ca_spec() -> CaSpec {
    CaSpec {
        days: 1825,
        domain: "consul".to_owned(),
        permitted_dns: Vec::new(),
        common_name: None,
        cluster_id: None,
    }
}

fn cert_spec(kind: Kind) -> CertSpec {
    CertSpec {
        kind,
        dc: "dc1".to_owned(),
        domain: "consul".to_owned(),
        node: None,
        days: 365,
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
    }
}

/// Parses a PEM certificate and hands it to `check`.
fn with_cert<T>(pem: &str, check: impl FnOnce(&X509Certificate<'_>) -> T) -> T {
    let (_, pem) = parse_x509_pem(pem.as_bytes()).expect("PEM");
    let x509 = pem.parse_x509().expect("X.509");
    check(&x509)
}

fn issue(ca: &Generated, spec: &CertSpec) -> anyhow::Result<Generated> {
    let key = KeyPair::from_pem(&ca.key_pem).expect("CA key");
    cert::generate(
        spec,
        ca.cert_pem.as_bytes(),
        Path::new("ca.pem"),
        key,
        now(),
    )
}

/// (DNS names, IP addresses) of a certificate.
fn sans(x509: &X509Certificate<'_>) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    if let Ok(Some(san)) = x509.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns.push((*d).to_owned()),
                GeneralName::IPAddress(b) => ips.push(match b.len() {
                    4 => IpAddr::from(<[u8; 4]>::try_from(*b).expect("v4")),
                    _ => IpAddr::from(<[u8; 16]>::try_from(*b).expect("v6")),
                }),
                _ => {}
            }
        }
    }
    (dns, ips)
}

/// (serverAuth, clientAuth), or `None` without the extension.
fn eku(x509: &X509Certificate<'_>) -> Option<(bool, bool)> {
    x509.extended_key_usage()
        .expect("EKU parses")
        .map(|e| (e.value.server_auth, e.value.client_auth))
}

fn days_valid(x509: &X509Certificate<'_>) -> i64 {
    let v = x509.validity();
    (v.not_after.to_datetime() - v.not_before.to_datetime()).whole_days()
}

fn is_p256(x509: &X509Certificate<'_>) -> bool {
    let spki = x509.public_key();
    spki.algorithm.algorithm.to_id_string() == "1.2.840.10045.2.1"
        && spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .is_some_and(|oid| oid.to_id_string() == "1.2.840.10045.3.1.7")
}

#[test]
fn a_ca_is_a_p256_ca_for_signing_valid_1825_days_without_constraints() {
    let ca = ca::generate(&ca_spec(), now()).expect("CA");
    assert!(ca.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    with_cert(&ca.cert_pem, |x| {
        assert!(x.is_ca());
        assert!(is_p256(x));
        assert_eq!(days_valid(x), 1825);
        let ku = x.key_usage().expect("parses").expect("present").value;
        assert!(ku.key_cert_sign() && ku.crl_sign() && ku.digital_signature());
        assert!(x.name_constraints().expect("parses").is_none());
        let cn = x.subject().iter_common_name().next().expect("CN");
        assert!(cn.as_str().expect("text").starts_with("Praetor Agent CA "));
    });
}

#[test]
fn name_constraints_permit_the_additional_domains_the_domain_and_localhost_critically() {
    let spec = CaSpec {
        permitted_dns: vec!["ui.example".into(), "consul".into(), "localhost".into()],
        common_name: Some("My CA".into()),
        cluster_id: Some("abc".into()),
        ..ca_spec()
    };
    let ca = ca::generate(&spec, now()).expect("CA");
    with_cert(&ca.cert_pem, |x| {
        let nc = x.name_constraints().expect("parses").expect("present");
        assert!(nc.critical);
        let permitted: Vec<String> = nc
            .value
            .permitted_subtrees
            .as_ref()
            .expect("permitted")
            .iter()
            .map(|s| match &s.base {
                GeneralName::DNSName(d) => (*d).to_owned(),
                other => panic!("not a DNS subtree: {other:?}"),
            })
            .collect();
        assert_eq!(permitted, ["ui.example", "consul", "localhost"]);
        let cn = x.subject().iter_common_name().next().expect("CN");
        assert_eq!(cn.as_str().expect("text"), "My CA");
        let uri = x
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    san.general_names.iter().find_map(|n| match n {
                        GeneralName::URI(u) => Some((*u).to_owned()),
                        _ => None,
                    })
                }
                _ => None,
            });
        assert_eq!(uri.as_deref(), Some("spiffe://abc.consul"));
    });
}

#[test]
fn a_server_certificate_names_the_server_localhost_and_loopback_for_both_usages() {
    let ca = ca::generate(&ca_spec(), now()).expect("CA");
    let spec = CertSpec {
        node: Some("node1".into()),
        dns_names: vec!["extra.example".into()],
        ip_addresses: vec!["10.1.2.3".parse().expect("ip")],
        ..cert_spec(Kind::Server)
    };
    let leaf = issue(&ca, &spec).expect("cert");
    assert!(leaf.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    with_cert(&leaf.cert_pem, |x| {
        assert!(!x.is_ca());
        assert!(is_p256(x));
        assert_eq!(days_valid(x), 365);
        let (dns, ips) = sans(x);
        assert_eq!(
            dns,
            [
                "extra.example",
                "node1.server.dc1.consul",
                "server.dc1.consul",
                "localhost"
            ]
        );
        assert_eq!(
            ips,
            [IpAddr::from([10, 1, 2, 3]), IpAddr::from([127, 0, 0, 1])]
        );
        assert_eq!(eku(x), Some((true, true)));
        let ku = x.key_usage().expect("parses").expect("present").value;
        assert!(ku.digital_signature() && ku.key_encipherment() && !ku.key_cert_sign());
        let cn = x.subject().iter_common_name().next().expect("CN");
        assert_eq!(cn.as_str().expect("text"), "server.dc1.consul");
    });
}

#[test]
fn client_and_cli_certificates_carry_their_own_names_and_usages() {
    let ca = ca::generate(&ca_spec(), now()).expect("CA");
    let client = issue(&ca, &cert_spec(Kind::Client)).expect("client");
    with_cert(&client.cert_pem, |x| {
        let (dns, ips) = sans(x);
        assert_eq!(dns, ["client.dc1.consul", "localhost"]);
        assert_eq!(ips, [IpAddr::from([127, 0, 0, 1])]);
        assert_eq!(eku(x), Some((true, true)));
    });
    let spec = CertSpec {
        dc: "east".into(),
        domain: "corp".into(),
        days: 30,
        ..cert_spec(Kind::Cli)
    };
    let cli = issue(&ca, &spec).expect("cli");
    with_cert(&cli.cert_pem, |x| {
        let (dns, ips) = sans(x);
        assert_eq!(dns, ["cli.east.corp", "localhost"]);
        assert!(ips.is_empty());
        assert_eq!(eku(x), None);
        assert_eq!(days_valid(x), 30);
    });
    assert_eq!(spec.prefix(), "east-cli-corp");
}

#[test]
fn a_name_outside_the_cas_name_constraints_is_refused_before_anything_is_written() {
    let spec = CaSpec {
        permitted_dns: vec!["consul".into(), "localhost".into()],
        ..ca_spec()
    };
    let ca = ca::generate(&spec, now()).expect("CA");
    issue(&ca, &cert_spec(Kind::Server)).expect("inside the constraints");
    let outside = CertSpec {
        dns_names: vec!["evil.example".into()],
        ..cert_spec(Kind::Server)
    };
    let err = issue(&ca, &outside).expect_err("outside the constraints");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("does not verify for server.dc1.consul"),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");
}

#[test]
fn a_ca_key_that_does_not_belong_to_the_ca_is_refused() {
    let ca = ca::generate(&ca_spec(), now()).expect("CA");
    let other = ca::generate(&ca_spec(), now()).expect("another CA");
    let wrong = KeyPair::from_pem(&other.key_pem).expect("key");
    let err = cert::generate(
        &cert_spec(Kind::Client),
        ca.cert_pem.as_bytes(),
        Path::new("ca.pem"),
        wrong,
        now(),
    )
    .expect_err("wrong key");
    assert_eq!(
        format!("{err:#}"),
        "Error reading CA: ca.pem: the CA key does not belong to this certificate"
    );
}

#[test]
fn a_leaf_certificate_is_not_accepted_as_the_ca() {
    let ca = ca::generate(&ca_spec(), now()).expect("CA");
    let leaf = issue(&ca, &cert_spec(Kind::Client)).expect("client");
    let key = KeyPair::from_pem(&leaf.key_pem).expect("key");
    let err = cert::generate(
        &cert_spec(Kind::Client),
        leaf.cert_pem.as_bytes(),
        Path::new("leaf.pem"),
        key,
        now(),
    )
    .expect_err("not a CA");
    assert_eq!(
        format!("{err:#}"),
        "Error reading CA: leaf.pem: not a CA certificate"
    );
}

/// A CA shaped like Consul's (`tlsutil.GenerateCA`): a subject of
/// PrintableStrings with postal code and street, and a SEC1 key.
#[test]
fn a_ca_made_by_consul_signs_certificates_whose_issuer_is_its_exact_subject() {
    const SEC1_P256: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIK0ZzCyqOW3Emqtn9QVyKFsabmNQV6G+Bjpn0uCzVQ+aoAoGCCqGSM49
AwEHoUQDQgAEG+fr3afxq2sacGpdkbyIgbQvaj8cV4gI6Bq9u/T//vgjXDHXngiP
fgemhWf8Cml+doK0JRvaeqYcp2n+pBVS8Q==
-----END EC PRIVATE KEY-----
";
    let key = super::key::parse(SEC1_P256.as_bytes()).expect("SEC1 key");
    let mut params = rcgen::CertificateParams::default();
    let printable = |s: &str| DnValue::PrintableString(s.try_into().expect("printable"));
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(DnType::CountryName, printable("US"));
    dn.push(DnType::CustomDnType(vec![2, 5, 4, 17]), printable("94105"));
    dn.push(DnType::StateOrProvinceName, printable("CA"));
    dn.push(DnType::LocalityName, printable("San Francisco"));
    dn.push(
        DnType::CustomDnType(vec![2, 5, 4, 9]),
        printable("101 Second Street"),
    );
    dn.push(DnType::OrganizationName, printable("Example Inc."));
    dn.push(DnType::CommonName, printable("Consul Agent CA 1"));
    params.distinguished_name = dn;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_pem = params.self_signed(&key).expect("CA").pem();

    let signer = super::key::parse(SEC1_P256.as_bytes()).expect("SEC1 key");
    let leaf = cert::generate(
        &cert_spec(Kind::Server),
        ca_pem.as_bytes(),
        Path::new("consul-agent-ca.pem"),
        signer,
        now(),
    )
    .expect("signed by Consul's CA");
    let ca_subject = with_cert(&ca_pem, |x| x.subject().as_raw().to_vec());
    with_cert(&leaf.cert_pem, |x| {
        assert_eq!(x.issuer().as_raw(), ca_subject)
    });
}

#[test]
fn days_must_be_positive_and_end_before_the_year_10000() {
    let n = now();
    assert!(super::not_after(n, 1).is_ok());
    for days in [0, -1, 3_000_000, i64::MAX] {
        let err = super::not_after(n, days).expect_err("refused");
        assert!(!format!("{err:#}").contains('\n'));
    }
}

#[test]
fn datacenter_domain_and_node_must_be_dns_words() {
    for ok in ["dc1", "example.com", "my_dc", "a-b"] {
        super::check_dns_word("-dc", ok).expect(ok);
    }
    for bad in ["", "../x", "a/b", ".x", "-x", "a b", "ü"] {
        super::check_dns_word("-dc", bad).expect_err(bad);
    }
}
