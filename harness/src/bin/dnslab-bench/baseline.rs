//! The same lab built the way a user would script it: `ip -batch` for the
//! namespaces and links, `ip -n NS -batch` per namespace for addresses and
//! routes, `ip netns exec NS sysctl` and `ip netns exec NS nft -f -`. It is
//! the baseline `lab up` is measured against, in the same run.
//!
//! It runs inside `unshare --mount` with a tmpfs on /run, so the names of
//! its namespaces (`ip netns add` bind-mounts them under /run/netns) exist
//! only in that mount namespace: when the script ends, however it ends, the
//! kernel drops the mounts and frees the namespaces. The host's /run is
//! never written.

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use lab::Topology;

/// The whole script: one `sh` program, as a user would keep it in a file.
pub fn script(topo: &Topology) -> String {
    let ns = |i: usize| format!("n{i}");
    let sw = |s: usize| format!("s{s}");
    let mut top = String::new();
    for i in 0..topo.nodes().len() {
        writeln!(top, "netns add {}", ns(i)).unwrap();
    }
    let bridged: Vec<usize> = (0..topo.segments().len()).filter(|&s| topo.is_bridged(s)).collect();
    for &s in &bridged {
        writeln!(top, "netns add {}\nlink add br0 netns {} type bridge", sw(s), sw(s)).unwrap();
    }
    let mut per_ns: Vec<String> = vec!["link set lo up\n".into(); topo.nodes().len()];
    let mut sw_cmds: Vec<(usize, String)> = bridged.iter().map(|&s| (s, "link set br0 up\n".to_string())).collect();
    for (si, seg) in topo.segments().iter().enumerate() {
        if let Some(b) = bridged.iter().position(|&s| s == si) {
            for (k, &(n, i)) in seg.members.iter().enumerate() {
                let name = &topo.nodes()[n].ifaces[i].name;
                writeln!(top, "link add {name} netns {} type veth peer name p{k} netns {}", ns(n), sw(si)).unwrap();
                writeln!(sw_cmds[b].1, "link set p{k} master br0\nlink set p{k} up").unwrap();
            }
        } else if let [(a, ia), (b, ib)] = seg.members[..] {
            let (na, nb) = (&topo.nodes()[a].ifaces[ia].name, &topo.nodes()[b].ifaces[ib].name);
            writeln!(top, "link add {na} netns {} type veth peer name {nb} netns {}", ns(a), ns(b)).unwrap();
        }
    }
    let mut execs = String::new();
    for (i, node) in topo.nodes().iter().enumerate() {
        let cmds = &mut per_ns[i];
        for iface in &node.ifaces {
            writeln!(cmds, "link set {} up", iface.name).unwrap();
            for a in &iface.addrs {
                let nodad = if a.addr().is_ipv6() { " nodad" } else { "" };
                writeln!(cmds, "addr add {a} dev {}{nodad}", iface.name).unwrap();
            }
        }
        for r in &node.routes {
            writeln!(cmds, "route add {} via {} dev {}", r.dest, r.via, r.dev).unwrap();
        }
        let mut sysctls: Vec<String> = node.sysctls.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if node.forward {
            sysctls.extend(["net.ipv4.ip_forward=1".into(), "net.ipv6.conf.all.forwarding=1".into()]);
        }
        if !sysctls.is_empty() {
            writeln!(execs, "ip netns exec {} sysctl -q -w {}", ns(i), sysctls.join(" ")).unwrap();
        }
        if let Some(rules) = lab::firewall::render(&node.filters, &node.snat) {
            writeln!(execs, "ip netns exec {} nft -f - <<'NFT'\n{rules}\nNFT", ns(i)).unwrap();
        }
    }
    let mut sh = format!("set -e\nmount -t tmpfs dnslab-bench /run\nip -batch - <<'IP'\n{top}IP\n");
    for (i, cmds) in per_ns.iter().enumerate() {
        writeln!(sh, "ip -n {} -batch - <<'IP'\n{cmds}IP", ns(i)).unwrap();
    }
    for (s, cmds) in &sw_cmds {
        writeln!(sh, "ip -n {} -batch - <<'IP'\n{cmds}IP", sw(*s)).unwrap();
    }
    sh + &execs
}

/// Runs the script `rounds` times; the median wall time of one, from
/// `unshare` to the last command's end.
pub fn up(topo: &Topology, rounds: usize) -> Result<Duration, String> {
    let sh = script(topo);
    let mut times = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let out = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &sh])
            .output()
            .map_err(|e| format!("unshare: {e}"))?;
        times.push(t.elapsed());
        if !out.status.success() {
            return Err(format!("the ip -batch baseline failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    times.sort();
    Ok(times[times.len() / 2])
}
