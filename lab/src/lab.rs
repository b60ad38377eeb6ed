//! [`Lab::up`] turns a [`Topology`] into namespaces, veths, bridges,
//! addresses, routes, sysctls and nft rules. It is the only code in the
//! project that changes the kernel, and it only ever changes namespaces it
//! created: the host's links, routes, sysctls and ruleset are never touched.
//! Dropping the [`Lab`] closes the namespace fds; the kernel frees the rest.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::try_join_all;

use crate::error::{Error, Result};
use crate::firewall;
use crate::link;
use crate::netns::{write_sysctl, Netns};
use crate::process::{self, Process};
use crate::topology::Topology;

/// A running lab. Everything it built lives in namespaces only it holds.
#[must_use = "dropping the lab tears it down"]
pub struct Lab {
    topology: Topology,
    nodes: BTreeMap<String, Arc<Netns>>,
    /// One hidden namespace per bridged segment, holding the bridge.
    _switches: Vec<Netns>,
    /// How long each build phase took.
    pub timings: Vec<(&'static str, Duration)>,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab").field("nodes", &self.nodes.keys().collect::<Vec<_>>()).finish()
    }
}

/// Is the `nft` tool there? Checked before anything is built.
pub fn nft_path() -> Result<std::path::PathBuf> {
    for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        let p = std::path::Path::new(dir).join("nft");
        if p.exists() {
            return Ok(p);
        }
    }
    Err(Error::MissingTool {
        tool: "nft",
        package: "nftables",
    })
}

impl Lab {
    /// Builds the topology. On any failure everything built so far is
    /// released before the error returns: there is never a half-built lab.
    pub fn up(topology: &Topology) -> Result<Lab> {
        let nft = if topology.nodes.iter().any(|n| !n.filters.is_empty() || !n.snat.is_empty()) {
            Some(nft_path()?)
        } else {
            None
        };
        let topo = topology.clone();
        // setns() only moves the calling thread: do the work on a thread of our own.
        let (lab, timings) = std::thread::spawn(move || build(topo)).join().map_err(|_| Error::Io {
            what: "lab setup thread".into(),
            source: std::io::Error::other("panicked"),
        })??;
        let mut lab = Lab {
            topology: topology.clone(),
            nodes: lab.0,
            _switches: lab.1,
            timings,
        };
        if let Some(nft) = nft {
            let t = Instant::now();
            lab.load_rules(&nft)?;
            lab.timings.push(("nft", t.elapsed()));
        }
        Ok(lab)
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn netns(&self, node: &str) -> Result<Arc<Netns>> {
        self.nodes.get(node).cloned().ok_or_else(|| Error::NoNode(node.to_string()))
    }

    /// Starts `cmd` inside `node` (`ip netns exec NODE CMD`).
    pub fn spawn(&self, node: &str, cmd: &mut Command) -> Result<Process> {
        let ns = self.netns(node)?;
        Process::spawn(node, ns, cmd).map_err(Error::io(format!("start {:?} in {node}", cmd.get_program())))
    }

    /// Runs `cmd` inside `node` to completion and returns its output.
    pub fn output(&self, node: &str, cmd: &mut Command) -> Result<std::process::Output> {
        let ns = self.netns(node)?;
        process::enter_on_exec(cmd, &ns);
        cmd.output().map_err(Error::io(format!("run {:?} in {node}", cmd.get_program())))
    }

    /// Runs `f` on a new OS thread inside `node`.
    pub fn thread<T: Send + 'static>(&self, node: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<std::thread::JoinHandle<std::io::Result<T>>> {
        let ns = self.netns(node)?;
        process::spawn_thread(format!("lab:{node}"), ns, f).map_err(Error::io("spawn node thread"))
    }

    /// The nft script of a node, as loaded (`nft list ruleset` shows the same).
    pub fn ruleset(&self, node: &str) -> Option<String> {
        let n = self.topology.node(node)?;
        firewall::render(&n.filters, &n.snat)
    }

    /// Packet counts of every named counter in a node (`nft -j list counters`).
    pub fn counters(&self, node: &str) -> Result<BTreeMap<String, u64>> {
        let nft = nft_path()?;
        let out = self.output(node, Command::new(nft).args(["-j", "list", "counters", "table", "inet", firewall::TABLE]))?;
        if !out.status.success() {
            return Err(Error::Nft {
                node: node.into(),
                stderr: String::from_utf8_lossy(&out.stderr).into(),
            });
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| Error::Nft {
            node: node.into(),
            stderr: format!("unreadable nft json: {e}"),
        })?;
        let mut counters = BTreeMap::new();
        for item in v["nftables"].as_array().into_iter().flatten() {
            if let Some(c) = item.get("counter") {
                if let (Some(name), Some(p)) = (c["name"].as_str(), c["packets"].as_u64()) {
                    counters.insert(name.strip_prefix(firewall::COUNTER_PREFIX).unwrap_or(name).to_string(), p);
                }
            }
        }
        Ok(counters)
    }

    /// `nft -f -` in every node that has rules, all at once.
    fn load_rules(&self, nft: &std::path::Path) -> Result<()> {
        let mut running = Vec::new();
        for n in &self.topology.nodes {
            let Some(script) = firewall::render(&n.filters, &n.snat) else { continue };
            let mut cmd = Command::new(nft);
            cmd.args(["-f", "-"]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
            process::enter_on_exec(&mut cmd, &self.nodes[&n.name]);
            let mut child = cmd.spawn().map_err(Error::io("start nft"))?;
            child
                .stdin
                .take()
                .expect("piped")
                .write_all(script.as_bytes())
                .map_err(Error::io("write nft script"))?;
            running.push((n.name.clone(), child));
        }
        for (node, child) in running {
            let out = child.wait_with_output().map_err(Error::io("wait for nft"))?;
            if !out.status.success() {
                return Err(Error::Nft {
                    node,
                    stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                });
            }
        }
        Ok(())
    }
}

type Built = (BTreeMap<String, Arc<Netns>>, Vec<Netns>);

/// The first interface index given to a veth end: above `lo` (1) and each
/// switch's bridge (2), which the kernel numbers itself.
const FIRST_VETH_INDEX: u32 = 16;

/// Runs on a dedicated thread: it enters each namespace in turn.
fn build(topo: Topology) -> Result<(Built, Vec<(&'static str, Duration)>)> {
    let mut timings = Vec::new();
    let mut t = Instant::now();
    let mut lap = |name, timings: &mut Vec<_>| {
        timings.push((name, t.elapsed()));
        t = Instant::now();
    };
    let home = Netns::current().map_err(Error::io("open own namespace"))?;
    let bridged: Vec<usize> = (0..topo.segments.len()).filter(|&s| topo.is_bridged(s)).collect();
    let mut all = Netns::create(topo.nodes.len() + bridged.len()).map_err(Error::io("create network namespaces"))?;
    let switches: Vec<Netns> = all.split_off(topo.nodes.len());
    let nodes: Vec<Netns> = all;
    lap("namespaces", &mut timings);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::io("runtime"))?;
    let _guard = rt.enter();
    // One netlink socket per namespace, plus its sysctls, while we are inside it.
    let mut handles = Vec::new();
    let enter_result = (|| -> Result<()> {
        for (i, ns) in nodes.iter().chain(switches.iter()).enumerate() {
            ns.enter().map_err(Error::io("enter namespace"))?;
            let (conn, h, _) = rtnetlink::new_connection().map_err(Error::io("netlink socket"))?;
            rt.spawn(conn);
            handles.push(h);
            if let Some(node) = topo.nodes.get(i) {
                // Before any link exists, so no address is ever tentative.
                write_sysctl("net.ipv6.conf.default.accept_dad", "0").map_err(Error::io("sysctl"))?;
                write_sysctl("net.ipv6.conf.all.accept_dad", "0").map_err(Error::io("sysctl"))?;
                if node.forward {
                    write_sysctl("net.ipv4.ip_forward", "1").map_err(Error::io("sysctl"))?;
                    write_sysctl("net.ipv6.conf.all.forwarding", "1").map_err(Error::io("sysctl"))?;
                }
                for (k, v) in &node.sysctls {
                    write_sysctl(k, v).map_err(Error::io(format!("node {}: sysctl {k}={v}", node.name)))?;
                }
            }
        }
        Ok(())
    })();
    home.enter().map_err(Error::io("return to own namespace"))?;
    enter_result?;
    lap("sysctls", &mut timings);

    let (node_h, switch_h) = handles.split_at(nodes.len());
    rt.block_on(async {
        try_join_all(node_h.iter().map(link::lo_up)).await?;
        try_join_all(switch_h.iter().map(link::bridge)).await?;
        let mut bridge_idx = Vec::new();
        for h in switch_h {
            bridge_idx.push(link::index(h, link::BRIDGE).await?);
        }
        // Links: a veth pair between the two members, or one veth per member
        // from the segment's switch namespace.
        let mut veths: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + '_>>> = Vec::new();
        // Every veth end gets an index of its own across the lab (see `link::veth`).
        let mut next = FIRST_VETH_INDEX;
        let mut pair = || {
            let index = link::VethIndex { local: next, peer: next + 1 };
            next += 2;
            index
        };
        for (si, seg) in topo.segments.iter().enumerate() {
            if let Some(b) = bridged.iter().position(|&s| s == si) {
                for (k, &(n, _)) in seg.members.iter().enumerate() {
                    let port = format!("p{k}");
                    let (h, ns, name, m, index, mtu) = (&switch_h[b], nodes[n].raw(), seg.name.clone(), bridge_idx[b], pair(), seg.mtu);
                    veths.push(Box::pin(async move { link::veth(h, &port, &name, ns, Some(m), index, mtu).await }));
                }
            } else {
                let [(a, _), (b, _)] = seg.members[..] else { unreachable!("two members") };
                let (h, ns, name, index, mtu) = (&node_h[a], nodes[b].raw(), seg.name.clone(), pair(), seg.mtu);
                veths.push(Box::pin(async move { link::veth(h, &name, &name, ns, None, index, mtu).await }));
            }
        }
        try_join_all(veths).await?;
        // Switch ports up (`ip link set pK up`); node ends come up with their addresses.
        let segments = &topo.segments;
        try_join_all(bridged.iter().enumerate().map(|(b, &si)| async move {
            for k in 0..segments[si].members.len() {
                let idx = link::index(&switch_h[b], &format!("p{k}")).await?;
                link::up(&switch_h[b], idx).await?;
            }
            Ok::<_, Error>(())
        }))
        .await?;
        lap("links", &mut timings);
        try_join_all(topo.nodes.iter().zip(node_h).map(|(n, h)| async move {
            for i in &n.ifaces {
                let idx = link::index(h, &i.name).await?;
                link::up(h, idx).await?;
                try_join_all(i.addrs.iter().map(|a| link::address(h, idx, *a))).await?;
            }
            try_join_all(n.routes.iter().map(|r| link::route(h, r))).await
        }))
        .await?;
        lap("addresses+routes", &mut timings);
        Ok::<_, Error>(())
    })?;
    drop(handles);
    let nodes = topo.nodes.iter().zip(nodes).map(|(n, ns)| (n.name.clone(), Arc::new(ns))).collect();
    Ok(((nodes, switches), timings))
}
