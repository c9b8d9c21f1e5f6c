//! `GET /v1/agent/monitor`: the agent's log lines as a stream (Consul's
//! `Agent().Monitor`, `MonitorJSON`).

use futures::{Stream, StreamExt as _};

use crate::error::{self, ClientError};
use crate::Client;

impl Client {
    /// The agent's log lines at `level` (`""`: info) from now on, JSON
    /// lines with `json`; each item is one line without its newline. The
    /// stream ends when the agent closes it (it stopped).
    ///
    /// # Errors
    /// Connection failures and non-2xx answers (400 for an unknown level,
    /// 403 without agent:read); an item fails when the connection breaks.
    pub async fn agent_monitor(
        &self,
        level: &str,
        json: bool,
    ) -> Result<impl Stream<Item = Result<String, ClientError>>, ClientError> {
        let mut q = vec![("loglevel", level.to_owned())];
        if json {
            q.push(("logjson", String::new()));
        }
        let mut req = self
            .http
            .get(format!("{}/v1/agent/monitor", self.base))
            .query(&q);
        if let Some(t) = &self.token {
            req = req.header("X-Consul-Token", t);
        }
        let resp = self.check(self.send(req).await?).await?;
        let addr = self.base.clone();
        let bytes = resp.bytes_stream();
        Ok(futures::stream::unfold(
            (bytes, Vec::<u8>::new(), false),
            move |(mut bytes, mut buf, done)| {
                let addr = addr.clone();
                async move {
                    if done {
                        return None;
                    }
                    loop {
                        if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = buf.drain(..=pos).collect();
                            let text = String::from_utf8_lossy(&line[..pos]).into_owned();
                            return Some((Ok(text), (bytes, buf, false)));
                        }
                        match bytes.next().await {
                            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                            Some(Err(e)) => {
                                let err = ClientError::Connect {
                                    addr,
                                    reason: error::reason(&e),
                                };
                                return Some((Err(err), (bytes, buf, true)));
                            }
                            None if buf.is_empty() => return None,
                            None => {
                                let text = String::from_utf8_lossy(&buf).into_owned();
                                buf.clear();
                                return Some((Ok(text), (bytes, buf, true)));
                            }
                        }
                    }
                }
            },
        ))
    }
}
