//! Catalog endpoints. For now: `/v1/catalog/datacenters`, which lists the
//! datacenters this agent knows (its own).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;

use super::AppState;

/// The known datacenters, this agent's first.
pub async fn datacenters(State(state): State<Arc<AppState>>) -> Json<Vec<String>> {
    Json(vec![state.config().datacenter.clone()])
}
