//! Runs one workload against both targets, one after the other, and accounts
//! the CPU each side used while it ran.

use std::future::Future;
use std::time::Instant;

use crate::machine::cpu_secs;
use crate::report::{Cpu, CpuRow, Outcome, Pair};
use crate::target::{Side, Target};

/// Runs each workload against both targets and accounts the CPU each used.
pub struct Runner {
    pub praetor: Target,
    pub etcd: Target,
    /// Rows run so far: which side goes first alternates with it.
    pub row: usize,
    pub cpu: Vec<CpuRow>,
}

impl Runner {
    pub fn new(praetor: Target, etcd: Target) -> Self {
        Self {
            praetor,
            etcd,
            row: 0,
            cpu: Vec::new(),
        }
    }

    /// Runs `f` against both targets, one after the other (never both at
    /// once); which goes first alternates row by row so neither side always
    /// runs on the fresher server. A target's CPU is the sum over its servers.
    pub async fn both<T, F, Fut>(&mut self, label: String, f: F) -> Pair<Outcome<T>>
    where
        F: Fn(Target) -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
        T: std::fmt::Debug,
    {
        let order = if self.row & 1 == 0 {
            [self.praetor.clone(), self.etcd.clone()]
        } else {
            [self.etcd.clone(), self.praetor.clone()]
        };
        self.row += 1;
        let mut out = [None, None];
        let mut cpu = [Cpu::default(), Cpu::default()];
        let server_cpu = |t: &Target| t.pids.iter().map(|&p| cpu_secs(p)).sum::<f64>();
        for t in order {
            let (server0, client0, wall0) =
                (server_cpu(&t), cpu_secs(std::process::id()), Instant::now());
            let r = outcome(f(t.clone()).await);
            let i = usize::from(t.side == Side::Etcd);
            cpu[i] = Cpu {
                wall_s: wall0.elapsed().as_secs_f64(),
                server_s: server_cpu(&t) - server0,
                client_s: cpu_secs(std::process::id()) - client0,
            };
            eprintln!("   {}: {r:?}", t.side);
            out[i] = Some(r);
        }
        let [praetor, etcd] = cpu;
        self.cpu.push(CpuRow {
            label,
            cpu: Pair { praetor, etcd },
        });
        let [p, e] = out.map(|r| r.unwrap_or_else(|| Err("not run".into())));
        Pair {
            praetor: p,
            etcd: e,
        }
    }
}

/// A result as the report keeps it: the error's whole chain as text.
pub fn outcome<T>(r: anyhow::Result<T>) -> Outcome<T> {
    r.map_err(|e| format!("{e:#}"))
}
