//! A federation for tests: datacenters nearest first, each answering
//! with some instances of web or failing, recording whom it was asked.

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::future::BoxFuture;
use praetor_api::catalog::{RegisterRequest, ServiceDefinition, ServiceEntry};

use super::{Federation, RemoteQuery};

/// A federation of named datacenters, nearest first, each answering with
/// its instances or failing; it records whom it was asked.
pub(crate) struct Fake {
    by_rtt: Vec<String>,
    answers: BTreeMap<String, Result<usize, String>>,
    asked: Mutex<Vec<String>>,
    /// Listing the datacenters fails.
    unlisted: bool,
}

impl Fake {
    pub(crate) fn new(dcs: &[(&str, Result<usize, &str>)]) -> Fake {
        Fake {
            by_rtt: dcs.iter().map(|(d, _)| d.to_string()).collect(),
            answers: dcs
                .iter()
                .map(|(d, a)| (d.to_string(), a.map_err(str::to_owned)))
                .collect(),
            asked: Mutex::new(Vec::new()),
            unlisted: false,
        }
    }

    /// The same federation, whose datacenters cannot be listed.
    pub(crate) fn listing_fails(mut self) -> Fake {
        self.unlisted = true;
        self
    }

    pub(crate) fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

/// Instance `i` of web in datacenter `dc`, as a catalog answers it.
pub(crate) fn entry(dc: &str, i: usize) -> ServiceEntry {
    let mut store = praetor_store::Store::default();
    let register = RegisterRequest {
        node: format!("{dc}-node"),
        address: "10.0.0.1".into(),
        service: Some(ServiceDefinition {
            id: format!("{dc}-{i}"),
            service: "web".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(store
        .apply(1, &praetor_store::Command::CatalogRegister(register.into()))
        .ok());
    store
        .catalog()
        .health_service("web", None, false)
        .1
        .remove(0)
}

impl Federation for Fake {
    fn datacenters_by_rtt(&self) -> BoxFuture<'_, Result<Vec<String>, String>> {
        let by_rtt = if self.unlisted {
            Err("no server answered".to_owned())
        } else {
            Ok(self.by_rtt.clone())
        };
        Box::pin(async move { by_rtt })
    }

    fn execute<'a>(
        &'a self,
        dc: &'a str,
        query: &'a RemoteQuery,
    ) -> BoxFuture<'a, Result<Vec<ServiceEntry>, String>> {
        assert_eq!(query.service.service, "web");
        self.asked.lock().unwrap().push(dc.to_owned());
        let answer = self.answers[dc]
            .clone()
            .map(|n| (0..n).map(|i| entry(dc, i)).collect());
        Box::pin(async move { answer })
    }
}
