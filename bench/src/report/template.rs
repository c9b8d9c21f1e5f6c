//! The template phase's results (the `template` subcommand's JSON) and
//! their section of BENCHMARKS.md: how long a KV write takes to reach the
//! file `praetor template` renders from it, with many templates watching
//! many keys, and the renderer's memory and CPU. Computed from the
//! numbers, like the rest of the report; never measures anything itself.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{Config, Goal};
use crate::machine::Machine;

/// The goal (issue 18): a KV change reaches the rendered file within this
/// many milliseconds at the 99th percentile, none missing the deadline.
pub const GOAL_P99_MS: f64 = 1000.0;

/// Write-to-file latencies, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Samples taken (writes made).
    pub samples: usize,
    /// Of which the file showed the value before the deadline.
    pub seen: usize,
    /// Of which it did not (not in the percentiles).
    pub missed: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// The summary of `samples` (milliseconds; `None` for a sample whose
    /// file missed the deadline): nearest-rank percentiles over the samples
    /// seen.
    pub fn of(samples: &[Option<f64>]) -> Self {
        let mut seen: Vec<f64> = samples.iter().flatten().copied().collect();
        seen.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            if seen.is_empty() {
                return 0.0;
            }
            let n = seen.len();
            let r = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
            seen[r.min(n) - 1]
        };
        Self {
            samples: samples.len(),
            seen: seen.len(),
            missed: samples.len() - seen.len(),
            p50_ms: rank(50.0),
            p99_ms: rank(99.0),
            max_ms: rank(100.0),
        }
    }
}

/// A process's resident memory and CPU time at one moment.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct ProcUse {
    /// `VmRSS` in KiB (0 when it could not be read).
    pub rss_kib: u64,
    /// User + system CPU seconds since it started.
    pub cpu_s: f64,
    /// Open sockets.
    pub sockets: usize,
}

/// Everything the template phase measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct TemplateReport {
    pub config: Config,
    pub command: String,
    pub date: String,
    pub praetor_version: String,
    pub machine: Option<Machine>,
    /// Templates in the one renderer's config file.
    pub templates: usize,
    /// Keys loaded; each template renders `keys / templates` of them.
    pub keys: usize,
    /// Samples asked for, the sample loop's time budget and each sample's
    /// deadline.
    pub samples_asked: usize,
    pub budget_secs: u64,
    pub deadline_secs: u64,
    /// How often the output file is read while waiting, in microseconds.
    pub poll_us: u64,
    /// How the agent and the renderer were started (paths shown as $TMP).
    pub agent_cmd: String,
    pub renderer_cmd: String,
    /// One template block of the config file, as an example.
    pub example_block: String,
    pub load_before: String,
    pub load_after: String,
    /// Seconds to load the keys.
    pub load_secs: Option<f64>,
    /// Seconds from the renderer's start to every output holding its
    /// initial values.
    pub first_render_secs: Option<f64>,
    /// Per sample, in order: write start to file holding the value, ms
    /// (`None`: missed the deadline).
    pub samples_ms: Vec<Option<f64>>,
    /// Per sample: the put's own round trip, ms (`None`: it failed).
    pub put_ms: Vec<Option<f64>>,
    /// Seconds the sample loop ran.
    pub samples_secs: f64,
    /// The renderer after the first render and after the samples.
    pub renderer_idle: Option<ProcUse>,
    pub renderer_end: Option<ProcUse>,
    /// The agent likewise.
    pub agent_idle: Option<ProcUse>,
    pub agent_end: Option<ProcUse>,
    /// Processes that exited on their own or needed SIGKILL.
    pub stopped: Vec<String>,
    /// Why the phase stopped early, if it did.
    pub error: Option<String>,
}

impl TemplateReport {
    pub fn new(config: Config, command: String, date: String, praetor_version: String) -> Self {
        Self {
            config,
            command,
            date,
            praetor_version,
            machine: None,
            templates: 0,
            keys: 0,
            samples_asked: 0,
            budget_secs: 0,
            deadline_secs: 0,
            poll_us: 0,
            agent_cmd: String::new(),
            renderer_cmd: String::new(),
            example_block: String::new(),
            load_before: String::new(),
            load_after: String::new(),
            load_secs: None,
            first_render_secs: None,
            samples_ms: Vec::new(),
            put_ms: Vec::new(),
            samples_secs: 0.0,
            renderer_idle: None,
            renderer_end: None,
            agent_idle: None,
            agent_end: None,
            stopped: Vec::new(),
            error: None,
        }
    }

    /// The write-to-file latencies.
    pub fn latency(&self) -> Latency {
        Latency::of(&self.samples_ms)
    }

    /// The puts' own round trips (failed puts left out).
    pub fn put_latency(&self) -> Latency {
        Latency::of(&self.put_ms)
    }

    /// CPU milliseconds per change spent by `end - idle` over the samples.
    fn cpu_ms_per_change(&self, idle: Option<ProcUse>, end: Option<ProcUse>) -> Option<f64> {
        let (a, b) = (idle?, end?);
        let n = self.samples_ms.len();
        (n > 0).then(|| (b.cpu_s - a.cpu_s).max(0.0) * 1000.0 / n as f64)
    }

    /// Issue 18's goal, computed from the samples.
    pub fn goal(&self) -> Goal {
        let what = format!(
            "a KV change reaches the rendered file within {:.0} s (p99), {} templates watching {} keys",
            GOAL_P99_MS / 1000.0,
            self.templates,
            self.keys
        );
        let l = self.latency();
        if l.samples == 0 {
            let why = self
                .error
                .as_deref()
                .map_or_else(|| "no samples".to_owned(), |e| e.replace('\n', " "));
            return Goal::unmeasured(format!("{what}: not measured ({why})"));
        }
        let missed = if l.missed > 0 {
            format!(
                "; {} of {} writes never reached their file within {} s",
                l.missed, l.samples, self.deadline_secs
            )
        } else {
            String::new()
        };
        Goal::judged(
            l.missed == 0 && l.p99_ms < GOAL_P99_MS,
            format!(
                "{what}: p99 {:.1} ms, p50 {:.1} ms, max {:.1} ms over {} writes (the templates section){missed}",
                l.p99_ms, l.p50_ms, l.max_ms, l.samples
            ),
        )
    }

    /// Its section of BENCHMARKS.md, numbered `n`.
    pub fn section(&self, md: &mut String, n: usize) {
        let machine = self.machine.as_ref().map_or_else(
            || "unknown".to_owned(),
            |m| {
                format!(
                    "{}, {} cores, {:.1} GiB RAM, Linux {}; data directory on {}",
                    m.cpu, m.cores, m.ram_gib, m.kernel, m.disk
                )
            },
        );
        let per = self.keys.checked_div(self.templates).unwrap_or(0);
        let _ = writeln!(
            md,
            "\n## {n}. Templates (issue 18)\n\n\
             A separate phase on {date} (praetor alone): one durable single-server praetor agent on a free \
             loopback address in 127.0.15.0/24 with default ports, and **one** `praetor template` process \
             rendering {t} templates from it, both on the same machine as the bench client. The command, from \
             the repository root:\n\n    {cmd}\n\n\
             - Machine: {machine}\n\
             - praetor: `{version}`\n\
             - Load average (1, 5, 15 min) before the phase: {lb}; after: {la}.\n\n\
             Method: {keys} keys `bench/tpl/k0000`… (short values) are written first. The renderer's config file \
             has {t} `template {{ contents = …, destination = … }}` blocks; template *i* renders {per} of the \
             keys, one `kNNNN={{{{ key \"bench/tpl/kNNNN\" }}}}` line each, so every key is watched by exactly one \
             template and the renderer holds {keys} blocking queries open. No `wait` (no quiescence). Once every \
             output file holds its initial values, up to {asked} samples (bounded at {budget} s in all), one at a \
             time: a durable put of a new unique value to a random key, then the template's output file is \
             read every {poll} µs until it holds the line `kNNNN=<value>`, for at most {deadline} s. Latency is \
             from the put's start to the first read that shows the value, so it includes the put's own round \
             trip; nearest-rank percentiles over the samples that arrived, samples that missed the deadline \
             counted apart. RSS is `VmRSS` from `/proc/<pid>/status`; CPU is user + system time from \
             `/proc/<pid>/stat` (10 ms ticks).\n",
            date = self.date,
            t = self.templates,
            cmd = self.command,
            version = self.praetor_version,
            lb = self.load_before,
            la = self.load_after,
            keys = self.keys,
            asked = self.samples_asked,
            budget = self.budget_secs,
            poll = self.poll_us,
            deadline = self.deadline_secs,
        );
        let l = self.latency();
        let p = self.put_latency();
        let _ = writeln!(
            md,
            "| | writes | missed {deadline} s | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|\n\
             | KV write → rendered file | {} | {} | {:.2} | {:.2} | {:.2} |\n\
             | … of which the put's round trip | {} | {} | {:.2} | {:.2} | {:.2} |\n",
            l.samples,
            l.missed,
            l.p50_ms,
            l.p99_ms,
            l.max_ms,
            p.samples,
            p.missed,
            p.p50_ms,
            p.p99_ms,
            p.max_ms,
            deadline = self.deadline_secs,
        );
        let mib = |k: u64| k as f64 / 1024.0;
        let use_row = |md: &mut String, who: &str, idle: Option<ProcUse>, end: Option<ProcUse>| {
            let cell = |u: Option<ProcUse>, f: &dyn Fn(ProcUse) -> String| u.map_or("–".into(), f);
            let per = self
                .cpu_ms_per_change(idle, end)
                .map_or("–".into(), |v| format!("{v:.2}"));
            let _ = writeln!(
                md,
                "| {who} | {} | {} | {} | {} | {per} | {} |",
                cell(idle, &|u| format!("{:.1}", mib(u.rss_kib))),
                cell(end, &|u| format!("{:.1}", mib(u.rss_kib))),
                cell(idle, &|u| format!("{:.2}", u.cpu_s)),
                cell(end, &|u| format!("{:.2}", u.cpu_s)),
                cell(end, &|u| u.sockets.to_string()),
            );
        };
        let _ = writeln!(
            md,
            "| process | RSS after the first render, MiB | RSS after the samples, MiB | CPU s after the first render | \
             CPU s after the samples | CPU ms per write during the samples | open sockets at the end |\n\
             |---|---:|---:|---:|---:|---:|---:|"
        );
        use_row(
            md,
            "`praetor template`",
            self.renderer_idle,
            self.renderer_end,
        );
        use_row(md, "agent (server)", self.agent_idle, self.agent_end);
        md.push('\n');
        let mut facts = Vec::new();
        if let Some(s) = self.load_secs {
            facts.push(format!("loading the {} keys took {s:.1} s", self.keys));
        }
        if let Some(s) = self.first_render_secs {
            facts.push(format!(
                "every one of the {} outputs held its initial values {s:.2} s after the renderer started",
                self.templates
            ));
        }
        if !self.samples_ms.is_empty() {
            facts.push(format!(
                "the {} samples took {:.1} s",
                self.samples_ms.len(),
                self.samples_secs
            ));
        }
        if !facts.is_empty() {
            let mut s = facts.join("; ");
            if let Some(c) = s.get(..1) {
                s = c.to_uppercase() + &s[1..];
            }
            let _ = writeln!(md, "{s}.\n");
        }
        let _ = writeln!(md, "{}", self.goal().line());
        let mut notes = Vec::new();
        notes.extend(self.stopped.iter().cloned());
        if let Some(e) = &self.error {
            notes.push(format!("the phase stopped early: {}", e.replace('\n', " ")));
        }
        if !notes.is_empty() {
            let _ = writeln!(md, "\nNotes:\n");
            for n in notes {
                let _ = writeln!(md, "- {n}");
            }
        }
        let _ = writeln!(
            md,
            "\nThe first of the {} template blocks:\n\n{}\nStarted as (agent, then renderer):\n\n    {}\n    {}",
            self.templates,
            self.example_block.lines().fold(String::new(), |mut o, l| {
                let _ = writeln!(o, "    {l}");
                o
            }),
            self.agent_cmd,
            self.renderer_cmd,
        );
    }
}

impl crate::phase::PhaseReport for TemplateReport {
    fn set_error(&mut self, error: String) {
        self.error = Some(error);
    }

    fn standalone_markdown(&self) -> String {
        crate::phase::standalone(
            "Template benchmark (template phase only)",
            &self.command,
            &self.date,
            |md| self.section(md, 16),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        config: Config,
    }

    fn report(samples: Vec<Option<f64>>) -> TemplateReport {
        let mut r = TemplateReport::new(
            <Flags as clap::Parser>::parse_from(["template"]).config,
            "cmd".into(),
            "date".into(),
            "v".into(),
        );
        r.templates = 100;
        r.keys = 1000;
        r.deadline_secs = 10;
        r.samples_ms = samples;
        r
    }

    #[test]
    fn latency_leaves_missed_samples_out_of_the_percentiles() {
        let mut s: Vec<Option<f64>> = (1..=100).map(|ms| Some(f64::from(ms))).collect();
        s.push(None);
        let l = Latency::of(&s);
        assert_eq!((l.samples, l.seen, l.missed), (101, 100, 1));
        assert_eq!((l.p50_ms, l.p99_ms, l.max_ms), (50.0, 99.0, 100.0));
        let empty = Latency::of(&[None, None]);
        assert_eq!((empty.seen, empty.missed, empty.p99_ms), (0, 2, 0.0));
    }

    #[test]
    fn goal_is_met_only_under_a_second_with_nothing_missed() {
        let fast = report((0..200).map(|i| Some(5.0 + f64::from(i % 7))).collect());
        assert_eq!(fast.goal().met, Some(true), "{}", fast.goal().text);
        let mut slow: Vec<Option<f64>> = vec![Some(10.0); 95];
        slow.extend(vec![Some(1500.0); 5]);
        assert_eq!(report(slow).goal().met, Some(false));
        let mut lost: Vec<Option<f64>> = vec![Some(10.0); 199];
        lost.push(None);
        let g = report(lost).goal();
        assert_eq!(g.met, Some(false));
        assert!(
            g.text.contains("1 of 200 writes never reached"),
            "{}",
            g.text
        );
        assert_eq!(report(Vec::new()).goal().met, None);
    }

    #[test]
    fn cpu_per_change_is_the_difference_over_the_samples() {
        let mut r = report(vec![Some(1.0); 100]);
        let idle = ProcUse {
            rss_kib: 1024,
            cpu_s: 1.0,
            sockets: 1000,
        };
        let end = ProcUse { cpu_s: 1.5, ..idle };
        let v = r
            .cpu_ms_per_change(Some(idle), Some(end))
            .unwrap_or_default();
        assert!((v - 5.0).abs() < 1e-9);
        r.renderer_idle = Some(idle);
        r.renderer_end = Some(end);
        let mut md = String::new();
        r.section(&mut md, 17);
        assert!(md.contains("## 17. Templates (issue 18)"), "{md}");
        assert!(
            md.contains("| `praetor template` | 1.0 | 1.0 | 1.00 | 1.50 | 5.00 | 1000 |"),
            "{md}"
        );
        assert!(md.contains("- **Met**: a KV change reaches"), "{md}");
    }
}
