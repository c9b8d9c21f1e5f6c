//! Consul compatibility as its users meet it on the wire: the curl
//! flows against an agent on the default port 8500, through reqwest and
//! through the real `curl`.

mod acl;
mod curl;
mod tls;
