//! Calls for other datacenters (`Request::CrossDc`): a server serves one
//! for its own datacenter itself, and hands any other to the
//! [`DcRouter`] its agent installed (the WAN pool's servers of that
//! datacenter). Owns the seam between the server and federation; knows
//! nothing of gossip, and never routes a call it would have to forward
//! twice: the receiving server of the target datacenter serves it as a
//! local request.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use crate::rpc::{DcCall, Reply, WireError};

/// A boxed future of a reply, as [`DcRouter::route`] returns it.
pub type RouteFuture<'a> = Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;

/// Sends a call to a server of another datacenter and returns its reply,
/// or a reply carrying why it could not (`WireError::NoPathToDatacenter`
/// for a datacenter it does not know or whose servers are all gone).
pub trait DcRouter: Send + Sync + 'static {
    /// Routes `call` to datacenter `dc` (never this server's own).
    fn route(&self, dc: String, call: DcCall) -> RouteFuture<'_>;

    /// Every datacenter known, this server's own included, nearest first.
    fn datacenters(&self) -> Vec<String>;

    /// The WAN coordinates of every datacenter's servers, by datacenter
    /// (`/v1/coordinate/datacenters`).
    fn coordinate_maps(&self) -> Vec<praetor_api::coordinate::CoordinateDatacenterMap>;
}

/// Where a server's router is installed: once, after the server started
/// (the WAN pool starts after it); shared by every clone of the server.
#[derive(Clone, Default)]
pub(crate) struct RouterSlot(Arc<OnceLock<Arc<dyn DcRouter>>>);

impl RouterSlot {
    /// Installs `router`; a second install is ignored (returns `false`).
    pub(crate) fn install(&self, router: Arc<dyn DcRouter>) -> bool {
        self.0.set(router).is_ok()
    }

    /// The installed router, if any.
    pub(crate) fn get(&self) -> Option<&Arc<dyn DcRouter>> {
        self.0.get()
    }
}

/// The reply `call` gets when it fails with `why` before reaching a
/// server: the same reply variant a server would have answered it with.
#[must_use]
pub fn failed(call: &DcCall, why: WireError) -> Reply {
    match call {
        DcCall::Write(..) => Reply::Write(Err(why)),
        DcCall::Query(..) => Reply::Query(Err(why)),
        DcCall::AutopilotHealth => Reply::AutopilotHealth(Err(why)),
        DcCall::Status => Reply::Done(Err(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl DcRouter for Fixed {
        fn route(&self, dc: String, call: DcCall) -> RouteFuture<'_> {
            Box::pin(async move { failed(&call, WireError::NoPathToDatacenter(dc)) })
        }

        fn datacenters(&self) -> Vec<String> {
            vec!["dc1".into()]
        }

        fn coordinate_maps(&self) -> Vec<praetor_api::coordinate::CoordinateDatacenterMap> {
            Vec::new()
        }
    }

    #[test]
    fn a_router_is_installed_once() {
        let slot = RouterSlot::default();
        assert!(slot.get().is_none());
        assert!(slot.install(Arc::new(Fixed)));
        assert!(!slot.install(Arc::new(Fixed)));
        assert!(slot.clone().get().is_some(), "clones share the slot");
    }

    #[test]
    fn a_failed_call_gets_its_own_reply_kind() {
        let why = || WireError::NoPathToDatacenter("dc9".into());
        assert!(matches!(
            failed(&DcCall::Status, why()),
            Reply::Done(Err(_))
        ));
        assert!(matches!(
            failed(&DcCall::AutopilotHealth, why()),
            Reply::AutopilotHealth(Err(_))
        ));
        let write = DcCall::Write(
            praetor_store::Command::SessionDestroy { id: "s".into() },
            crate::acl::Token::anonymous(),
        );
        assert!(matches!(failed(&write, why()), Reply::Write(Err(_))));
    }
}
