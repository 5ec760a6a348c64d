//! CPU time of this process and of each of its threads, from `/proc/self/stat` and
//! `/proc/self/task/*/stat`, to show which threads a run kept busy.

use std::collections::BTreeMap;

/// Kernel clock ticks per second (`USER_HZ`, 100 on Linux/x86_64).
const TICKS: f64 = 100.0;

/// A snapshot: the process's CPU seconds (exited threads included) and each live
/// thread's, by thread id, with its name.
pub struct Snapshot {
    process: f64,
    threads: BTreeMap<String, (String, f64)>,
}

/// The name and (user + system) CPU seconds of a `stat` line.
fn stat_secs(stat: &str) -> Option<(String, f64)> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    // Numbered threads (`thrd-tantivy-index0`) count under one name.
    let name = stat[open + 1..close].trim_end_matches(|c: char| c.is_ascii_digit()).to_string();
    // After the name: state, ppid, ... utime is the 12th field, stime the 13th.
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let ticks: f64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum();
    Some((name, ticks / TICKS))
}

/// Takes a snapshot.
pub fn snapshot() -> Snapshot {
    let process = std::fs::read_to_string("/proc/self/stat").ok().as_deref().and_then(stat_secs).map_or(0.0, |s| s.1);
    let mut threads = BTreeMap::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            if let Some(s) = std::fs::read_to_string(t.path().join("stat")).ok().as_deref().and_then(stat_secs) {
                threads.insert(t.file_name().to_string_lossy().to_string(), s);
            }
        }
    }
    Snapshot { process, threads }
}

/// The process's CPU seconds between two snapshots.
pub fn process(before: &Snapshot, after: &Snapshot) -> f64 {
    after.process - before.process
}

/// What the process and each thread name used between two snapshots over `wall` seconds,
/// in cores, busiest first. `exited` is what threads gone by `after` used (tantivy's
/// indexing and merge threads end at commits).
pub fn report(before: &Snapshot, after: &Snapshot, wall: f64) -> String {
    let total = process(before, after);
    let mut by_name: BTreeMap<&str, f64> = BTreeMap::new();
    for (tid, (name, secs)) in &after.threads {
        let was = before.threads.get(tid).map_or(0.0, |t| t.1);
        *by_name.entry(name).or_insert(0.0) += secs - was;
    }
    let live: f64 = by_name.values().sum();
    let mut used: Vec<(&str, f64)> = by_name.into_iter().collect();
    used.push(("exited", (total - live).max(0.0)));
    used.retain(|(_, v)| *v >= 0.01 * wall);
    used.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut s = format!("{total:.1} CPU-s = {:.2} cores:", total / wall);
    for (k, v) in used {
        s.push_str(&format!(" {k} {:.2}", v / wall));
    }
    s
}

/// CPU time the hypervisor ran something else while this machine's vCPUs wanted to run
/// (`steal` in `/proc/stat`), ms, summed over the vCPUs. A thread on a stolen vCPU stalls
/// whatever the guest does, so runs are read with it.
pub fn steal_ms() -> f64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().next()?.split_whitespace().nth(8)?.parse::<f64>().ok())
        .map_or(0.0, |ticks| ticks * 1000.0 / TICKS)
}
