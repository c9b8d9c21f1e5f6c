//! The client's calls to Consul's autopilot endpoints and leadership
//! transfer (`praetor operator autopilot …`, `praetor operator raft
//! transfer-leader`).

use praetor_api::autopilot::{AutopilotConfiguration, AutopilotState, TransferLeaderResponse};
use reqwest::Method;

use crate::{Client, ClientError, TIMEOUT};

/// How long a transfer may take: the leader's catch-up, quiet period and
/// election wait, with slack.
const TRANSFER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Client {
    /// `GET /v1/operator/autopilot/configuration`.
    ///
    /// # Errors
    /// Connection failures and non-2xx answers.
    pub async fn autopilot_get_config(&self) -> Result<AutopilotConfiguration, ClientError> {
        self.get_json("/v1/operator/autopilot/configuration", &[])
            .await
    }

    /// `PUT /v1/operator/autopilot/configuration`, with `?cas=` when
    /// given; whether it was stored.
    ///
    /// # Errors
    /// As `autopilot_get_config`.
    pub async fn autopilot_set_config(
        &self,
        config: &AutopilotConfiguration,
        cas: Option<u64>,
    ) -> Result<bool, ClientError> {
        let q: Vec<(&str, String)> = cas.map(|c| ("cas", c.to_string())).into_iter().collect();
        let req = self
            .request(
                Method::PUT,
                "/v1/operator/autopilot/configuration",
                &q,
                TIMEOUT,
            )
            .json(config);
        let resp = self.check(self.send(req).await?).await?;
        resp.json()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `GET /v1/operator/autopilot/state`.
    ///
    /// # Errors
    /// As `autopilot_get_config`.
    pub async fn autopilot_state(&self) -> Result<AutopilotState, ClientError> {
        self.get_json("/v1/operator/autopilot/state", &[]).await
    }

    /// `POST /v1/operator/raft/transfer-leader`, to the server `id` names
    /// (node ID or Raft id) or to any other.
    ///
    /// # Errors
    /// As `autopilot_get_config`; a 500 with the reason when leadership
    /// was not transferred.
    pub async fn operator_raft_transfer_leader(
        &self,
        id: Option<&str>,
    ) -> Result<TransferLeaderResponse, ClientError> {
        let q: Vec<(&str, String)> = id.map(|i| ("id", i.to_owned())).into_iter().collect();
        let req = self.request(
            Method::POST,
            "/v1/operator/raft/transfer-leader",
            &q,
            TRANSFER_TIMEOUT,
        );
        let resp = self.check(self.send(req).await?).await?;
        resp.json()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))
    }
}
