//! `enable_syslog`: each line to the local syslog socket as an RFC 3164
//! message `<PRI>praetor[pid]: …` (the daemon adds the time and host), with
//! `syslog_facility` (Consul's names, default `LOCAL0`) and the line's
//! level as severity. A datagram the daemon cannot take is lost, never
//! waited for.

use std::os::unix::net::UnixDatagram;
use std::path::Path;

use tracing::Level;

/// The sockets a local syslog daemon listens on, in the order tried.
pub const SOCKETS: &[&str] = &["/dev/log", "/var/run/syslog", "/var/run/log"];

/// A connection to the local syslog daemon.
pub struct Syslog {
    socket: UnixDatagram,
    facility: u8,
    pid: u32,
}

/// The facility code of a Consul `syslog_facility` name, any case.
pub fn facility(name: &str) -> Option<u8> {
    let code = match name.to_ascii_uppercase().as_str() {
        "KERN" => 0,
        "USER" => 1,
        "MAIL" => 2,
        "DAEMON" => 3,
        "AUTH" => 4,
        "SYSLOG" => 5,
        "LPR" => 6,
        "NEWS" => 7,
        "UUCP" => 8,
        "CRON" => 9,
        "AUTHPRIV" => 10,
        "FTP" => 11,
        "LOCAL0" => 16,
        "LOCAL1" => 17,
        "LOCAL2" => 18,
        "LOCAL3" => 19,
        "LOCAL4" => 20,
        "LOCAL5" => 21,
        "LOCAL6" => 22,
        "LOCAL7" => 23,
        _ => return None,
    };
    Some(code)
}

impl Syslog {
    /// Connects to the first local syslog socket that answers.
    ///
    /// # Errors
    /// No socket of [`SOCKETS`] takes a connection.
    pub fn connect_local(facility: u8) -> std::io::Result<Syslog> {
        let mut last = std::io::Error::from(std::io::ErrorKind::NotFound);
        for path in SOCKETS {
            match Syslog::connect(Path::new(path), facility) {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Connects to the syslog socket at `path`.
    ///
    /// # Errors
    /// The socket cannot be reached.
    pub fn connect(path: &Path, facility: u8) -> std::io::Result<Syslog> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(path)?;
        socket.set_nonblocking(true)?;
        Ok(Syslog {
            socket,
            facility,
            pid: std::process::id(),
        })
    }

    /// Sends one message at `level`'s severity; a full or gone daemon loses it.
    pub fn send(&self, level: Level, message: &str) {
        let severity = match level {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            _ => 7,
        };
        let pri = u16::from(self.facility) * 8 + severity;
        let text = format!("<{pri}>praetor[{}]: {}", self.pid, message.trim_end());
        let _ = self.socket.send(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_the_facility_and_the_levels_severity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.sock");
        let daemon = UnixDatagram::bind(&path).expect("bind");
        let syslog =
            Syslog::connect(&path, facility("local3").expect("facility")).expect("connect");
        syslog.send(Level::WARN, "[WARN]  agent: disk is slow\n");
        let mut buf = [0u8; 512];
        let n = daemon.recv(&mut buf).expect("recv");
        let got = String::from_utf8_lossy(&buf[..n]);
        // LOCAL3 (19) * 8 + warning (4)
        assert_eq!(
            got,
            format!(
                "<156>praetor[{}]: [WARN]  agent: disk is slow",
                std::process::id()
            )
        );
    }

    #[test]
    fn unknown_facilities_are_refused() {
        assert_eq!(facility("LOCAL0"), Some(16));
        assert_eq!(facility("daemon"), Some(3));
        assert_eq!(facility("LOCAL9"), None);
    }
}
