//! The standard `process_*` metrics (as the Prometheus client libraries name them), read from
//! `/proc` at scrape time. Elsewhere than Linux they are simply absent.
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Linux reports CPU time in clock ticks of 1/100 s and memory in pages of 4 KiB on the
/// platforms Lanyard ships for; without libc (no unsafe code) these are not asked of the kernel.
const TICKS_PER_SECOND: f64 = 100.0;
const PAGE_SIZE: u64 = 4096;

#[derive(Debug)]
pub(super) struct ProcessCollector;

impl ProcessCollector {
    pub(super) fn new() -> Self {
        Self
    }
}

/// What `/proc/self/stat` and friends say now.
#[derive(Debug, Default, PartialEq)]
struct Sample {
    cpu_seconds: f64,
    threads: i64,
    start_time_seconds: f64,
    virtual_bytes: i64,
    resident_bytes: i64,
    open_fds: Option<i64>,
    max_fds: Option<i64>,
}

/// Parses `/proc/self/stat` (fields numbered as in proc(5)) given the boot time.
fn parse_stat(stat: &str, boot_time: f64) -> Option<Sample> {
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3; field n is f[n - 3].
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let ticks = |n: usize| field(n).map(|t| t as f64 / TICKS_PER_SECOND);
    Some(Sample {
        cpu_seconds: ticks(14)? + ticks(15)?,
        threads: i64::try_from(field(20)?).ok()?,
        start_time_seconds: boot_time + ticks(22)?,
        virtual_bytes: i64::try_from(field(23)?).ok()?,
        resident_bytes: i64::try_from(field(24)? * PAGE_SIZE).ok()?,
        open_fds: None,
        max_fds: None,
    })
}

fn boot_time(proc_stat: &str) -> Option<f64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn max_open_files(limits: &str) -> Option<i64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn sample() -> Option<Sample> {
    let boot = boot_time(&std::fs::read_to_string("/proc/stat").ok()?)?;
    let mut s = parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?, boot)?;
    s.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .and_then(|d| i64::try_from(d.count()).ok());
    s.max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| max_open_files(&l));
    Some(s)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(s) = sample() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(s.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let mut gauges = vec![
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                s.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                s.virtual_bytes,
            ),
            ("process_threads", "Number of OS threads", s.threads),
        ];
        if let Some(n) = s.open_fds {
            gauges.push(("process_open_fds", "Number of open file descriptors", n));
        }
        if let Some(n) = s.max_fds {
            gauges.push((
                "process_max_fds",
                "Maximum number of open file descriptors",
                n,
            ));
        }
        for (name, help, value) in gauges {
            let g = ConstGauge::new(value);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        let start = ConstGauge::new(s.start_time_seconds);
        start.encode(encoder.encode_descriptor(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            None,
            start.metric_type(),
        )?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_command_name() {
        // A command name with spaces and parentheses, as proc(5) allows.
        let stat = "4242 (lan yard) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 \
                    250 150 0 0 20 0 7 0 1000 104857600 5000 18446744073709551615";
        let s = parse_stat(stat, 1_700_000_000.0).unwrap_or_default();
        assert_eq!(s.cpu_seconds, 4.0);
        assert_eq!(s.threads, 7);
        assert_eq!(s.start_time_seconds, 1_700_000_010.0);
        assert_eq!(s.virtual_bytes, 104_857_600);
        assert_eq!(s.resident_bytes, 5000 * 4096);
    }

    #[test]
    fn boot_time_and_fd_limit() {
        assert_eq!(boot_time("cpu 1 2 3\nbtime 1700000000\n"), Some(1.7e9));
        let limits = "Limit                     Soft Limit  Hard Limit  Units\n\
                      Max open files            1024        524288      files\n";
        assert_eq!(max_open_files(limits), Some(1024));
    }

    #[test]
    fn this_process_is_sampled() {
        let s = sample().unwrap_or_default();
        assert!(s.resident_bytes > 0 && s.threads >= 1 && s.open_fds.unwrap_or(0) > 0);
    }
}
