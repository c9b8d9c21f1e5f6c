//! What a service instance carries besides its name, address, port, tags
//! and meta, as Consul keeps it: its `Kind`, its `TaggedAddresses` (an
//! address and port per purpose), its `Proxy` block and its `Locality`.
//!
//! Praetor has no service mesh: a `Proxy` block is kept and returned as
//! it was given (an opaque JSON object), never acted on. Validation
//! follows Consul's agent and catalog (`validate`). Pure: no I/O.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The service kinds Consul knows besides the typical (empty) one.
pub const KINDS: &[&str] = &[
    "connect-proxy",
    "mesh-gateway",
    "terminating-gateway",
    "ingress-gateway",
    "api-gateway",
];

/// The kind Consul requires a `Proxy.DestinationServiceName` and a port of.
pub const CONNECT_PROXY: &str = "connect-proxy";

/// One of a service's tagged addresses (Consul's `ServiceAddress`). Consul
/// writes `Address` and `Port`; its documentation's examples write them in
/// lower case, which is accepted too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceAddress {
    #[serde(alias = "address", default)]
    pub address: String,
    #[serde(alias = "port", default)]
    pub port: u16,
}

/// Where a service instance runs (Consul's `Locality`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Locality {
    pub region: String,
    pub zone: String,
}

/// A service's `Proxy` block, kept as the compact JSON text of the object
/// it was given; empty when the service has none (or gave one whose every
/// field is empty, which is what Consul returns for a service without a
/// proxy).
///
/// In JSON it is the object itself, and a service without one shows
/// Consul's empty proxy (`{"Mode": "", "MeshGateway": {}, "Expose": {}}`).
/// Between Praetor's own processes (postcard, not self-describing) it
/// travels as its text.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceProxy(String);

/// Why a `Proxy` block was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Proxy must be a JSON object, not {0}")]
pub struct ProxyError(&'static str);

impl ServiceProxy {
    /// The block of `value`: `null` and an object with only empty fields
    /// are no block.
    ///
    /// # Errors
    /// When `value` is neither an object nor `null`.
    pub fn from_value(value: Value) -> Result<ServiceProxy, ProxyError> {
        match value {
            Value::Null => Ok(ServiceProxy::default()),
            Value::Object(_) if is_blank(&value) => Ok(ServiceProxy::default()),
            Value::Object(_) => Ok(ServiceProxy(value.to_string())),
            Value::Bool(_) => Err(ProxyError("a boolean")),
            Value::Number(_) => Err(ProxyError("a number")),
            Value::String(_) => Err(ProxyError("a string")),
            Value::Array(_) => Err(ProxyError("an array")),
        }
    }

    /// The block's JSON text as stored (empty: none).
    pub fn as_text(&self) -> &str {
        &self.0
    }

    /// The block from its stored text, as [`ServiceProxy::as_text`] gave
    /// it.
    pub fn from_text(text: String) -> ServiceProxy {
        ServiceProxy(text)
    }

    /// Whether the service has no proxy block.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The block as JSON: Consul's empty proxy when there is none.
    pub fn to_value(&self) -> Value {
        serde_json::from_str::<Value>(&self.0)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(empty_proxy)
    }

    /// A string field of the block (`DestinationServiceName`, …), empty
    /// when absent.
    pub fn field(&self, name: &str) -> String {
        match self.to_value().get(name) {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        }
    }
}

/// What Consul shows as the proxy of a service without one.
fn empty_proxy() -> Value {
    serde_json::json!({"Mode": "", "MeshGateway": {}, "Expose": {}})
}

/// Whether every field of `v` (recursively) is empty: `""`, `0`, `false`,
/// `null`, `[]` or `{}`.
fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_blank),
    }
}

impl Serialize for ServiceProxy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            self.to_value().serialize(s)
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for ServiceProxy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let value = Value::deserialize(d)?;
            ServiceProxy::from_value(value).map_err(serde::de::Error::custom)
        } else {
            Ok(ServiceProxy(String::deserialize(d)?))
        }
    }
}

impl fmt::Display for ServiceProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a service's kind, tagged addresses or proxy were refused, in
/// Consul's words where Consul has them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error(
        "Invalid service kind {0:?}: must be empty, connect-proxy, mesh-gateway, \
         terminating-gateway, ingress-gateway or api-gateway"
    )]
    Kind(String),
    #[error("Proxy.DestinationServiceName must be non-empty for Connect proxy services")]
    ProxyDestination,
    #[error("Port must be set for a Connect proxy")]
    ProxyPort,
    #[error("Service tagged address {0:?} must be a valid {1} address")]
    TaggedAddress(String, &'static str),
    #[error("Service tagged address {0:?} must have an address")]
    TaggedAddressEmpty(String),
}

/// Checks a service's kind, tagged addresses and proxy as Consul's agent
/// and catalog do: a known kind; a Connect proxy names its destination and
/// has a port; each tagged address has an address, and the `lan_ipv4`,
/// `wan_ipv4`, `lan_ipv6` and `wan_ipv6` ones are IP addresses of their
/// family.
///
/// # Errors
/// The first rule broken.
pub fn validate(
    kind: &str,
    port: u16,
    tagged: &BTreeMap<String, ServiceAddress>,
    proxy: &ServiceProxy,
) -> Result<(), ServiceError> {
    if !kind.is_empty() && !KINDS.contains(&kind) {
        return Err(ServiceError::Kind(kind.to_owned()));
    }
    if kind == CONNECT_PROXY {
        if proxy.field("DestinationServiceName").trim().is_empty() {
            return Err(ServiceError::ProxyDestination);
        }
        if port == 0 {
            return Err(ServiceError::ProxyPort);
        }
    }
    for (name, addr) in tagged {
        if addr.address.is_empty() {
            return Err(ServiceError::TaggedAddressEmpty(name.clone()));
        }
        let ip = addr.address.parse::<std::net::IpAddr>().ok();
        match name.as_str() {
            "lan_ipv4" | "wan_ipv4" if !ip.is_some_and(|ip| ip.is_ipv4()) => {
                return Err(ServiceError::TaggedAddress(name.clone(), "ipv4"));
            }
            "lan_ipv6" | "wan_ipv6" if !ip.is_some_and(|ip| ip.is_ipv6()) => {
                return Err(ServiceError::TaggedAddress(name.clone(), "ipv6"));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_proxy_block_round_trips_through_json_and_postcard() {
        let block = json!({"DestinationServiceName": "web", "LocalServicePort": 8080,
            "Upstreams": [{"DestinationName": "db", "LocalBindPort": 5432}],
            "Config": {"protocol": "http"}});
        let proxy: ServiceProxy = serde_json::from_value(block.clone()).unwrap();
        assert_eq!(serde_json::to_value(&proxy).unwrap(), block);
        let bytes = postcard::to_stdvec(&proxy).unwrap();
        let back: ServiceProxy = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, proxy);
        assert_eq!(proxy.field("DestinationServiceName"), "web");
    }

    #[test]
    fn no_proxy_shows_as_consuls_empty_proxy_and_reads_back_as_none() {
        let none = ServiceProxy::default();
        let shown = serde_json::to_value(&none).unwrap();
        assert_eq!(shown, json!({"Mode": "", "MeshGateway": {}, "Expose": {}}));
        let back: ServiceProxy = serde_json::from_value(shown).unwrap();
        assert!(back.is_empty());
        let null: ServiceProxy = serde_json::from_value(Value::Null).unwrap();
        assert!(null.is_empty());
    }

    #[test]
    fn a_proxy_that_is_not_an_object_is_refused_with_a_reason() {
        let err = serde_json::from_value::<ServiceProxy>(json!("web")).unwrap_err();
        assert!(err
            .to_string()
            .contains("Proxy must be a JSON object, not a string"));
        assert!(serde_json::from_value::<ServiceProxy>(json!([1])).is_err());
    }

    #[test]
    fn tagged_addresses_read_consuls_and_its_docs_spelling() {
        let a: ServiceAddress =
            serde_json::from_value(json!({"Address": "10.0.0.1", "Port": 80})).unwrap();
        let b: ServiceAddress =
            serde_json::from_value(json!({"address": "10.0.0.1", "port": 80})).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            serde_json::to_value(&a).unwrap(),
            json!({"Address": "10.0.0.1", "Port": 80})
        );
        assert!(serde_json::from_value::<ServiceAddress>(json!({"Port": 70000})).is_err());
    }

    /// Any JSON: a proxy block is refused, or is none, or shows as the
    /// object it was and travels between processes unchanged.
    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            ".{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(".{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn any_json_as_a_proxy_is_refused_or_kept_as_given(v in any_json()) {
            if let Ok(proxy) = ServiceProxy::from_value(v.clone()) {
                if proxy.is_empty() {
                    proptest::prop_assert!(v.is_null() || is_blank(&v));
                } else {
                    proptest::prop_assert_eq!(proxy.to_value(), v);
                }
                let bytes = postcard::to_stdvec(&proxy).unwrap();
                let back: ServiceProxy = postcard::from_bytes(&bytes).unwrap();
                proptest::prop_assert_eq!(back, proxy);
            } else {
                proptest::prop_assert!(!v.is_object() && !v.is_null());
            }
        }
    }

    #[test]
    fn validation_follows_consul() {
        let none = BTreeMap::new();
        let blank = ServiceProxy::default();
        assert_eq!(validate("", 0, &none, &blank), Ok(()));
        assert_eq!(
            validate("sidecar", 80, &none, &blank),
            Err(ServiceError::Kind("sidecar".into()))
        );
        assert_eq!(
            validate(CONNECT_PROXY, 80, &none, &blank),
            Err(ServiceError::ProxyDestination)
        );
        let proxy = ServiceProxy::from_value(json!({"DestinationServiceName": "web"})).unwrap();
        assert_eq!(
            validate(CONNECT_PROXY, 0, &none, &proxy),
            Err(ServiceError::ProxyPort)
        );
        assert_eq!(validate(CONNECT_PROXY, 21000, &none, &proxy), Ok(()));
        let addr = |a: &str| ServiceAddress {
            address: a.into(),
            port: 80,
        };
        let tagged = BTreeMap::from([("lan_ipv4".to_owned(), addr("::1"))]);
        assert_eq!(
            validate("", 0, &tagged, &blank),
            Err(ServiceError::TaggedAddress("lan_ipv4".into(), "ipv4"))
        );
        let tagged = BTreeMap::from([("wan".to_owned(), addr("web.example.com"))]);
        assert_eq!(validate("", 0, &tagged, &blank), Ok(()));
        let tagged = BTreeMap::from([("wan".to_owned(), addr(""))]);
        assert_eq!(
            validate("", 0, &tagged, &blank),
            Err(ServiceError::TaggedAddressEmpty("wan".into()))
        );
    }
}
