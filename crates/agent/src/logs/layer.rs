//! The tracing layer behind every log sink, and its installation. Decides
//! per callsite whether anything may want an event (the output's level or
//! `RUST_LOG`, and the most verbose monitor), builds the [`LogLine`] once,
//! and writes it to stderr, the log file and syslog, and to the monitor hub.
//! Never blocks on a monitor; a failing file is reported once on stderr.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use super::file::RotatingFile;
use super::format::{module_of, Collect, LogLine, Value};
use super::monitor::{hub, MonitorHub};
use super::policy::{effective, from_index, index, may_show};
use super::settings::{LogError, LogSettings};
use super::syslog::Syslog;

/// The installed logging: change its level on reload.
#[derive(Clone)]
pub struct Logging {
    shared: Arc<Shared>,
}

struct Shared {
    /// `policy::index` of the output's level.
    level: AtomicUsize,
    /// `RUST_LOG`, when set: it decides what the output shows.
    env: Option<EnvFilter>,
    json: bool,
    file: Option<Mutex<RotatingFile>>,
    file_failed: AtomicBool,
    syslog: Option<Syslog>,
    hub: &'static MonitorHub,
}

/// Installs the process's logging as `settings` say (the first call wins:
/// a later one only returns a handle that changes nothing installed).
/// `RUST_LOG`, when set and valid, replaces the level for the output.
/// Without a syslog socket it logs one warning and logs on without syslog.
///
/// # Errors
/// The log file cannot be opened.
pub fn install(settings: &LogSettings) -> Result<Logging, LogError> {
    let file = match &settings.file {
        Some(path) => Some(Mutex::new(
            RotatingFile::open(
                path,
                settings.rotate_bytes,
                settings.rotate_duration,
                settings.rotate_max_files,
            )
            .map_err(|source| LogError::File {
                path: path.display().to_string(),
                source,
            })?,
        )),
        None => None,
    };
    let mut warning = None;
    let syslog = if settings.syslog {
        match Syslog::connect_local(settings.syslog_facility) {
            Ok(s) => Some(s),
            Err(e) => {
                warning = Some(e.to_string());
                None
            }
        }
    } else {
        None
    };
    let env = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok());
    let shared = Arc::new(Shared {
        level: AtomicUsize::new(index(settings.level)),
        env,
        json: settings.json,
        file,
        file_failed: AtomicBool::new(false),
        syslog,
        hub: hub(),
    });
    {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        let layer = LogLayer {
            shared: shared.clone(),
        };
        let _ = tracing_subscriber::registry().with(layer).try_init();
    }
    if let Some(error) = warning {
        tracing::warn!(%error, "enable_syslog is set but no local syslog socket answers (/dev/log); logging without syslog");
    }
    Ok(Logging { shared })
}

impl Logging {
    /// Shows lines at `level` and more severe from now on (SIGHUP).
    pub fn set_level(&self, level: Level) {
        self.shared.level.store(index(level), Ordering::Relaxed);
        tracing::callsite::rebuild_interest_cache();
    }

    /// The level the output shows.
    pub fn level(&self) -> Level {
        from_index(self.shared.level.load(Ordering::Relaxed))
    }
}

impl Shared {
    /// Whether the output may want this callsite (`RUST_LOG` aside).
    fn output_may(&self, meta: &Metadata<'_>) -> bool {
        may_show(self.level_now(), meta.target(), *meta.level())
    }

    fn monitor_may(&self, meta: &Metadata<'_>) -> bool {
        self.hub
            .max_level()
            .is_some_and(|max| may_show(max, meta.target(), *meta.level()))
    }

    fn level_now(&self) -> Level {
        from_index(self.level.load(Ordering::Relaxed))
    }

    fn write(&self, line: &LogLine) {
        let rendered = line.render(self.json);
        {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(rendered.as_bytes());
        }
        if let Some(file) = &self.file {
            let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = file.write_line(rendered.as_bytes()) {
                if !self.file_failed.swap(true, Ordering::Relaxed) {
                    let _ = writeln!(
                        std::io::stderr(),
                        "writing the log file {} failed: {e}",
                        file.path().display()
                    );
                }
            }
        }
        if let Some(syslog) = &self.syslog {
            let text = line.text();
            // The daemon stamps its own time: drop ours.
            let body = text.split_once(' ').map_or(text.as_str(), |(_, rest)| rest);
            syslog.send(line.level, body);
        }
    }
}

/// A span's fields, kept for the events inside it.
struct SpanFields(Vec<(&'static str, Value)>);

struct LogLayer {
    shared: Arc<Shared>,
}

impl<S> Layer<S> for LogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        let s = &self.shared;
        if s.monitor_may(meta) {
            return Interest::always();
        }
        match &s.env {
            Some(env) => <EnvFilter as Layer<S>>::register_callsite(env, meta),
            None if s.output_may(meta) => Interest::always(),
            None => Interest::never(),
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        let s = &self.shared;
        s.monitor_may(meta)
            || match &s.env {
                Some(env) => <EnvFilter as Layer<S>>::enabled(env, meta, ctx),
                None => s.output_may(meta),
            }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let s = &self.shared;
        let output = match &s.env {
            Some(env) => <EnvFilter as Layer<S>>::max_level_hint(env).unwrap_or(LevelFilter::TRACE),
            None => LevelFilter::from_level(s.level_now()),
        };
        let monitor = s
            .hub
            .max_level()
            .map_or(LevelFilter::OFF, LevelFilter::from_level);
        Some(output.max(monitor))
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(env) = &self.shared.env {
            env.on_new_span(attrs, id, ctx.clone());
        }
        let mut c = Collect::default();
        attrs.record(&mut c);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(c.fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(env) = &self.shared.env {
            env.on_record(id, values, ctx.clone());
        }
        let mut c = Collect::default();
        values.record(&mut c);
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<SpanFields>() {
                fields.0.extend(c.fields);
            }
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(env) = &self.shared.env {
            <EnvFilter as Layer<S>>::on_enter(env, id, ctx);
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(env) = &self.shared.env {
            <EnvFilter as Layer<S>>::on_exit(env, id, ctx);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(env) = &self.shared.env {
            <EnvFilter as Layer<S>>::on_close(env, id, ctx);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let s = &self.shared;
        let meta = event.metadata();
        let mut c = Collect::default();
        event.record(&mut c);
        let level = effective(meta.target(), *meta.level(), &c.message);
        let output = match &s.env {
            Some(env) => <EnvFilter as Layer<S>>::enabled(env, meta, ctx.clone()),
            None => level <= s.level_now(),
        };
        let monitor = s.hub.max_level().is_some_and(|max| level <= max);
        if !output && !monitor {
            return;
        }
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    c.fields.extend(fields.0.iter().cloned());
                }
            }
        }
        let line = LogLine {
            time: std::time::SystemTime::now(),
            level,
            module: module_of(meta.target()),
            message: c.message,
            fields: c.fields,
        };
        if output {
            s.write(&line);
        }
        if monitor {
            s.hub.publish(line);
        }
    }
}
