//! Sessions, locks and transactions: `/v1/session/*`, `?acquire`/`?release`
//! and `/v1/txn`, as the `lock` and `elect` commands and the tests use them.

use reqwest::{Method, StatusCode};

use praetor_api::session::{SessionCreated, SessionEntry};
use praetor_api::txn::{TxnOp, TxnResponse};

use crate::{encode_key, Client, ClientError, TIMEOUT};

impl Client {
    /// `PUT /v1/session/create` with `body` (Consul's fields); the new ID.
    ///
    /// # Errors
    /// Connection failures and non-2xx answers (400 with the reason).
    pub async fn session_create(&self, body: &serde_json::Value) -> Result<String, ClientError> {
        let empty: [(&str, String); 0] = [];
        let req = self
            .request(Method::PUT, "/v1/session/create", &empty, TIMEOUT)
            .json(body);
        let resp = self.check(self.send(req).await?).await?;
        let created: SessionCreated = resp
            .json()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok(created.id)
    }

    /// `PUT /v1/session/destroy/<id>`.
    ///
    /// # Errors
    /// As `session_create`.
    pub async fn session_destroy(&self, id: &str) -> Result<(), ClientError> {
        self.put_empty(
            Method::PUT,
            &format!("/v1/session/destroy/{}", encode_key(id)),
            &[],
        )
        .await
    }

    /// `PUT /v1/session/renew/<id>`: the session, or `None` when it no
    /// longer exists (404).
    ///
    /// # Errors
    /// Connection failures and other non-2xx answers.
    pub async fn session_renew(&self, id: &str) -> Result<Option<SessionEntry>, ClientError> {
        let empty: [(&str, String); 0] = [];
        let path = format!("/v1/session/renew/{}", encode_key(id));
        let resp = self
            .send(self.request(Method::PUT, &path, &empty, TIMEOUT))
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = self.check(resp).await?;
        let list: Vec<SessionEntry> = resp
            .json()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok(list.into_iter().next())
    }

    async fn kv_session_put(
        &self,
        verb: &str,
        key: &str,
        value: Vec<u8>,
        flags: u64,
        session: &str,
    ) -> Result<bool, ClientError> {
        let q = [(verb, session.to_owned()), ("flags", flags.to_string())];
        self.kv_put_with(key, &q, value).await
    }

    /// `PUT /v1/kv/<key>?acquire=<session>&flags=`: `true` when the
    /// session holds the key now.
    ///
    /// # Errors
    /// As `kv_put`.
    pub async fn kv_acquire(
        &self,
        key: &str,
        value: Vec<u8>,
        flags: u64,
        session: &str,
    ) -> Result<bool, ClientError> {
        self.kv_session_put("acquire", key, value, flags, session)
            .await
    }

    /// `PUT /v1/kv/<key>?release=<session>&flags=`: `true` when released.
    ///
    /// # Errors
    /// As `kv_put`.
    pub async fn kv_release(
        &self,
        key: &str,
        value: Vec<u8>,
        flags: u64,
        session: &str,
    ) -> Result<bool, ClientError> {
        self.kv_session_put("release", key, value, flags, session)
            .await
    }

    /// `PUT /v1/txn`: the HTTP status (200 or 409) and the answer.
    ///
    /// # Errors
    /// Connection failures and answers other than 200 and 409.
    pub async fn txn(&self, ops: &[TxnOp]) -> Result<(u16, TxnResponse), ClientError> {
        let empty: [(&str, String); 0] = [];
        let req = self
            .request(Method::PUT, "/v1/txn", &empty, TIMEOUT)
            .json(ops);
        let resp = self.send(req).await?;
        let status = resp.status();
        if status != StatusCode::CONFLICT {
            let resp = self.check(resp).await?;
            let body = resp
                .json()
                .await
                .map_err(|e| ClientError::Decode(e.to_string()))?;
            return Ok((status.as_u16(), body));
        }
        let body = resp
            .json()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok((status.as_u16(), body))
    }
}
