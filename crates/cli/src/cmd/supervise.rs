//! What the supervising commands (`envconsul`, `template`) share: their
//! logs on stderr and the signals they pass on to their child.

/// Logs of the rendering commands (`envconsul`, `template`) on stderr, at
/// consul-template's levels (`debug`, `info`, `warn`, `err`).
///
/// # Errors
/// An unknown level.
pub fn render_logs(level: &str) -> anyhow::Result<()> {
    let filter = match level.to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "info" => "info",
        "warn" | "warning" => "warn",
        "err" | "error" => "error",
        other => anyhow::bail!("-log-level {other:?}: use debug, info, warn or err"),
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!(
            "praetor_render={filter}"
        )))
        .with_target(false)
        .try_init();
    Ok(())
}

/// The signals a supervising command passes on to its child (SIGINT,
/// SIGTERM and SIGQUIT end it), as their numbers.
///
/// # Errors
/// When a handler cannot be installed.
pub fn forward_signals() -> anyhow::Result<tokio::sync::mpsc::Receiver<i32>> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGQUIT,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ] {
        let mut s = signal(SignalKind::from_raw(sig))?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                if tx.send(sig).await.is_err() {
                    return;
                }
            }
        });
    }
    Ok(rx)
}
