//! The zero-code CPU profiler: samples the callchains of chosen processes (or
//! all) with `perf_event_open`, resolves them to function names, and pushes
//! one pprof per service every interval to the server's Pyroscope `/ingest`.
//!
//! ```text
//!  per CPU: cpu-clock event, 97 Hz ─▶ ring buffer ─┐  (drained 4×/s)
//!                                                  ▼
//!  profiler thread: samples of targeted pids → (pid, callchain) → count
//!        every interval │ symbolize (kallsyms, ELF, perf maps)
//!                       ▼
//!  one pprof per (service_name, process_name) ─▶ channel ─▶ async task ─▶ Sink
//! ```
//!
//! Everything but the hand-over to the [`Sink`] runs on one dedicated thread
//! (`vispyr-profiler`), so symbolization never blocks the async runtime. A
//! process is targeted when its pid was named, or its `comm`, process name or
//! command line matches one of the patterns, or everything is targeted; idle
//! (pid 0) and kernel threads never are. Its `service_name` is its
//! `OTEL_SERVICE_NAME` (or `service.name` in `OTEL_RESOURCE_ATTRIBUTES`), else
//! its process name. Kernel frames sit above the user frames of the same
//! sample (root → leaf: `main … syscall wrapper`, then `entry_SYSCALL_64 …
//! kernel leaf`), as in Pyroscope's eBPF profiler.

mod perf;
mod pprof;
mod process;
mod records;
mod symbols;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use regex::Regex;

use crate::outgoing::{Outgoing, Sink};
use perf::CpuSampler;
use pprof::{ProfileBuilder, Series, ingest_request};
use process::ProcessInfo;
use records::Records;
use symbols::{Frame, Kallsyms, Symbolizer};

/// Default sampling frequency: 97 Hz, a prime, so sampling does not run in
/// lockstep with periodic work (timers at 100 Hz, 10 ms ticks).
pub const DEFAULT_FREQUENCY_HZ: u64 = 97;
/// Default upload interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// How often the ring buffers are drained (see `perf::DATA_PAGES`).
const DRAIN_PERIOD: Duration = Duration::from_millis(250);
/// Profiles waiting for the sink; more are dropped (profiles are lossy data).
const QUEUE: usize = 64;

/// Which processes to profile.
#[derive(Debug, Clone)]
pub enum Targets {
    /// Every user-space process on the host.
    All,
    /// The processes with these pids, and those whose `comm`, process name or
    /// command line matches one of the patterns.
    Selected {
        pids: Vec<u32>,
        patterns: Vec<Regex>,
    },
}

impl Targets {
    /// The targets the command-line flags name: `None` when none do (the
    /// profiler is off), an error for a pattern that is not a regex.
    pub fn from_flags(
        pids: &[u32],
        patterns: &[String],
        all: bool,
    ) -> anyhow::Result<Option<Targets>> {
        if all {
            return Ok(Some(Targets::All));
        }
        if pids.is_empty() && patterns.is_empty() {
            return Ok(None);
        }
        let mut compiled = Vec::with_capacity(patterns.len());
        for pattern in patterns {
            compiled.push(
                Regex::new(pattern)
                    .with_context(|| format!("--profile-process {pattern:?} is not a regex"))?,
            );
        }
        Ok(Some(Targets::Selected {
            pids: pids.to_vec(),
            patterns: compiled,
        }))
    }

    fn matches(&self, info: &ProcessInfo) -> bool {
        match self {
            Targets::All => true,
            Targets::Selected { pids, patterns } => {
                pids.contains(&info.pid)
                    || patterns.iter().any(|pattern| {
                        pattern.is_match(&info.comm)
                            || pattern.is_match(&info.process_name)
                            || pattern.is_match(&info.cmdline)
                    })
            }
        }
    }
}

/// What the profiler was asked to do.
#[derive(Debug, Clone)]
pub struct ProfilerConfig {
    pub targets: Targets,
    /// Samples per second of CPU time (per CPU).
    pub frequency_hz: u64,
    /// How often profiles are pushed.
    pub interval: Duration,
    /// Where procfs is mounted.
    pub proc_root: PathBuf,
}

impl ProfilerConfig {
    fn validate(&self) -> anyhow::Result<()> {
        if !(1..=10_000).contains(&self.frequency_hz) {
            bail!(
                "--profile-frequency must be between 1 and 10000 Hz, got {}",
                self.frequency_hz
            );
        }
        if self.interval < Duration::from_secs(1) {
            bail!(
                "--profile-interval must be at least 1s, got {:?}",
                self.interval
            );
        }
        if let Targets::Selected { pids, patterns } = &self.targets
            && pids.is_empty()
            && patterns.is_empty()
        {
            bail!("the profiler needs targets: pids, name patterns or all");
        }
        Ok(())
    }
}

/// Profiles until `stop` resolves, then pushes the last partial interval and
/// returns. Fails at once when sampling cannot start (no permission for
/// `perf_event_open`: run as root or with CAP_PERFMON).
pub async fn run(
    config: ProfilerConfig,
    sink: Arc<dyn Sink>,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    config.validate()?;
    // Opening reads and sorts /proc/kallsyms (~100 ms): not on a runtime thread.
    let collector = tokio::task::spawn_blocking(move || Collector::open(config)).await??;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Outgoing>(QUEUE);
    let stopping = Arc::new(AtomicBool::new(false));
    let thread_stopping = Arc::clone(&stopping);
    let handle = std::thread::Builder::new()
        .name("vispyr-profiler".into())
        .spawn(move || collector.run(&sender, &thread_stopping))
        .context("cannot start the profiler thread")?;
    let thread = handle.thread().clone();
    tokio::pin!(stop);
    let mut stop_requested = false;
    loop {
        tokio::select! {
            _ = &mut stop, if !stop_requested => {
                stop_requested = true;
                stopping.store(true, Ordering::Release);
                thread.unpark();
            }
            request = receiver.recv() => {
                // None: the thread ended (after its last flush).
                let Some(request) = request else { break };
                if let Err(error) = sink.send(request).await {
                    tracing::warn!(%error, "pushing a CPU profile failed");
                }
            }
        }
    }
    tokio::task::spawn_blocking(move || handle.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the profiler thread panicked"))?;
    Ok(())
}

/// Counters of one upload interval, logged at debug level.
#[derive(Debug, Default)]
struct RoundStats {
    samples: u64,
    targeted: u64,
    lost: u64,
    malformed: u64,
}

/// The profiler thread's state.
struct Collector {
    config: ProfilerConfig,
    samplers: Vec<CpuSampler>,
    symbolizer: Symbolizer,
    /// Per pid seen this round: its info if it is a target.
    decisions: HashMap<u32, Option<Arc<ProcessInfo>>>,
    /// Start time of each process the symbolizer tracks (a reused pid differs).
    tracked: HashMap<u32, u64>,
    /// (pid, callchain) → times seen this round.
    stacks: HashMap<u32, HashMap<Vec<u64>, u64>>,
    records: Records,
    stats: RoundStats,
    round_start: SystemTime,
}

impl Collector {
    fn open(config: ProfilerConfig) -> anyhow::Result<Collector> {
        let cpus = perf::online_cpus().context("cannot list the CPUs")?;
        let mut samplers = Vec::with_capacity(cpus.len());
        for cpu in cpus {
            let sampler = CpuSampler::open(cpu, config.frequency_hz).with_context(|| {
                format!("perf_event_open (cpu-clock sampling) on CPU {cpu} failed: run the agent as root or with CAP_PERFMON")
            })?;
            samplers.push(sampler);
        }
        let kallsyms = Kallsyms::load(&config.proc_root.join("kallsyms"));
        if kallsyms.is_empty() {
            tracing::warn!("kernel symbols are not readable: kernel frames show as [unknown]");
        }
        tracing::info!(cpus = samplers.len(), frequency_hz = config.frequency_hz,
            targets = ?config.targets, interval = ?config.interval, "CPU profiler started");
        Ok(Collector {
            symbolizer: Symbolizer::new(config.proc_root.clone(), kallsyms),
            config,
            samplers,
            decisions: HashMap::new(),
            tracked: HashMap::new(),
            stacks: HashMap::new(),
            records: Records::default(),
            stats: RoundStats::default(),
            round_start: SystemTime::now(),
        })
    }

    fn run(mut self, sender: &tokio::sync::mpsc::Sender<Outgoing>, stopping: &AtomicBool) {
        let mut next_flush = Instant::now() + self.config.interval;
        loop {
            let now = Instant::now();
            std::thread::park_timeout(DRAIN_PERIOD.min(next_flush.saturating_duration_since(now)));
            let stop = stopping.load(Ordering::Acquire);
            self.drain();
            if stop || Instant::now() >= next_flush {
                for request in self.flush() {
                    if sender.try_send(request).is_err() {
                        tracing::warn!("CPU profile dropped: the upload queue is full");
                    }
                }
                next_flush = (next_flush + self.config.interval).max(Instant::now());
            }
            if stop {
                return;
            }
        }
    }

    /// Moves every sample out of the ring buffers into `stacks`.
    fn drain(&mut self) {
        let mut records = std::mem::take(&mut self.records);
        for sampler in &mut self.samplers {
            sampler.drain(&mut records);
            if records.malformed > 0 {
                tracing::debug!(
                    cpu = sampler.cpu(),
                    malformed = records.malformed,
                    "skipped malformed perf records"
                );
            }
            self.stats.lost += records.lost;
            self.stats.malformed += records.malformed;
            records.lost = 0;
            records.malformed = 0;
        }
        for sample in records.samples.drain(..) {
            self.stats.samples += 1;
            if sample.pid == 0 || !self.is_target(sample.pid) {
                continue;
            }
            self.stats.targeted += 1;
            *self
                .stacks
                .entry(sample.pid)
                .or_default()
                .entry(sample.callchain)
                .or_insert(0) += 1;
        }
        self.records = records;
    }

    /// Decides once a round whether a pid is a target; a new target's
    /// mappings are read right away, while it is alive.
    fn is_target(&mut self, pid: u32) -> bool {
        if let Some(decision) = self.decisions.get(&pid) {
            return decision.is_some();
        }
        let info = ProcessInfo::read(&self.config.proc_root, pid)
            .filter(|info| self.config.targets.matches(info))
            .map(Arc::new);
        if let Some(info) = &info {
            if self
                .tracked
                .get(&pid)
                .is_some_and(|&start| start != info.start_time)
            {
                self.symbolizer.forget(pid);
            }
            self.tracked.insert(pid, info.start_time);
            self.symbolizer.track(pid);
        }
        let targeted = info.is_some();
        self.decisions.insert(pid, info);
        targeted
    }

    /// Resolves this round's stacks into one ingest request per series, and
    /// starts the next round.
    fn flush(&mut self) -> Vec<Outgoing> {
        let now = SystemTime::now();
        let start_ns = unix_nanos(self.round_start);
        let duration_ns = unix_nanos(now).saturating_sub(start_ns).max(1);
        self.round_start = now;
        let stats = std::mem::take(&mut self.stats);
        if stats.lost > 0 {
            tracing::warn!(
                lost = stats.lost,
                "the kernel dropped perf samples (ring buffer full)"
            );
        }
        let stacks = std::mem::take(&mut self.stacks);
        let decisions = std::mem::take(&mut self.decisions);
        self.symbolizer.begin_round();

        let mut builders: HashMap<Series, ProfileBuilder> = HashMap::new();
        let mut frames: Vec<Frame> = Vec::new();
        for (pid, chains) in stacks {
            let Some(Some(info)) = decisions.get(&pid) else {
                continue;
            };
            let series = Series {
                service_name: info.service_name.clone(),
                process_name: info.process_name.clone(),
            };
            let builder = builders
                .entry(series)
                .or_insert_with(|| ProfileBuilder::new(self.config.frequency_hz));
            for (chain, count) in chains {
                frames.clear();
                self.symbolizer.frames(pid, &chain, &mut frames);
                builder.add(&frames, count);
            }
        }
        self.forget_exited(&decisions);

        let mut requests = Vec::with_capacity(builders.len());
        let mut series: Vec<_> = builders.into_iter().collect();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        for (series, builder) in series {
            if builder.is_empty() {
                continue;
            }
            let profile = builder.finish(start_ns, duration_ns);
            match ingest_request(&series, &profile, self.config.frequency_hz) {
                Ok(request) => requests.push(request),
                Err(error) => tracing::warn!(%error, "cannot encode a CPU profile"),
            }
        }
        tracing::debug!(
            samples = stats.samples,
            targeted = stats.targeted,
            lost = stats.lost,
            malformed = stats.malformed,
            profiles = requests.len(),
            "CPU profiler round"
        );
        requests
    }

    /// Drops the symbolizer state of tracked processes that were not sampled
    /// this round and are gone (or whose pid now names another process).
    fn forget_exited(&mut self, decisions: &HashMap<u32, Option<Arc<ProcessInfo>>>) {
        let proc_root = self.config.proc_root.clone();
        let symbolizer = &mut self.symbolizer;
        self.tracked.retain(|&pid, &mut start_time| {
            if decisions.contains_key(&pid) {
                return true;
            }
            let alive = ProcessInfo::read(&proc_root, pid)
                .is_some_and(|info| info.start_time == start_time);
            if !alive {
                symbolizer.forget(pid);
            }
            alive
        });
        debug_assert!(
            self.tracked
                .keys()
                .all(|&pid| self.symbolizer.is_tracked(pid))
        );
    }
}

fn unix_nanos(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pid: u32, comm: &str, cmdline: &str) -> ProcessInfo {
        ProcessInfo {
            pid,
            start_time: 1,
            comm: comm.into(),
            process_name: comm.into(),
            cmdline: cmdline.into(),
            service_name: comm.into(),
        }
    }

    #[test]
    fn targets_match_pids_and_patterns() {
        let targets = Targets::Selected {
            pids: vec![42],
            patterns: vec![
                Regex::new("^post(gres|master)").unwrap(),
                Regex::new("app\\.js").unwrap(),
            ],
        };
        assert!(targets.matches(&info(42, "anything", "")));
        assert!(targets.matches(&info(7, "postgres", "/usr/lib/postgresql/16/bin/postgres")));
        assert!(targets.matches(&info(8, "node", "node /srv/app.js")));
        assert!(!targets.matches(&info(9, "bash", "-bash")));
        assert!(Targets::All.matches(&info(9, "bash", "-bash")));
    }

    #[test]
    fn targets_from_flags() {
        assert!(Targets::from_flags(&[], &[], false).unwrap().is_none());
        assert!(matches!(
            Targets::from_flags(&[1], &[], true).unwrap(),
            Some(Targets::All)
        ));
        let Some(Targets::Selected { pids, patterns }) =
            Targets::from_flags(&[5], &["^node$".to_string()], false).unwrap()
        else {
            panic!("selected targets expected");
        };
        assert_eq!((pids, patterns.len()), (vec![5], 1));
        let error = Targets::from_flags(&[], &["(".to_string()], false).unwrap_err();
        assert!(error.to_string().contains("not a regex"));
    }

    #[test]
    fn config_is_validated() {
        let mut config = ProfilerConfig {
            targets: Targets::All,
            frequency_hz: DEFAULT_FREQUENCY_HZ,
            interval: DEFAULT_INTERVAL,
            proc_root: "/proc".into(),
        };
        assert!(config.validate().is_ok());
        config.frequency_hz = 0;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("frequency")
        );
        config.frequency_hz = 97;
        config.interval = Duration::from_millis(10);
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("interval")
        );
        config.interval = DEFAULT_INTERVAL;
        config.targets = Targets::Selected {
            pids: vec![],
            patterns: vec![],
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("targets")
        );
    }
}
