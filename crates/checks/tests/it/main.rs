//! praetor-checks against real targets on loopback: HTTP (plain and TLS),
//! TCP and UDP sockets, scripts in temp files, a tonic-health gRPC server.

mod alias;
mod flapping;
mod grpc;
mod http;
mod isolation;
mod script;
mod server_name;
mod support;
mod tcp;
mod ttl;
mod udp;
