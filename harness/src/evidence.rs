//! What a run leaves for a person to look at, per build (its name: the
//! kind's, unless `--resolver NAME=...` named it):
//!
//! ```text
//! <build>/pcap/<node>-<interface>.pcap   every DNS packet the node sent there
//! <build>/resolvers/<node>/              rendered config, the resolver's log,
//!                                        and what a --wrap wrote there (vg.log)
//! <build>/servers/<host>.jsonl           each query our server received
//! <build>/firewalls/<node>.nft           the rules as loaded
//! <build>/ladder.txt, ladder.md          a ladder per client query (text, Mermaid)
//! ```
//!
//! The pcaps hold packets as their *sender* saw them (`tcpdump -Q out` on
//! each interface), so a query a firewall dropped is in the file of the node
//! that sent it to the firewall; `tshark -r` and Wireshark read them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;

use crate::capture::Frame;
use crate::ladder;
use crate::outcome::Outcome;
use crate::scenario::Scenario;

/// What a run leaves for the evidence besides its outcome.
pub struct Kept<'a> {
    /// The run's private directory: a folder per resolver node.
    pub work: &'a Path,
    /// Each firewall's rules as loaded.
    pub rulesets: &'a BTreeMap<String, String>,
    pub frames: &'a [Frame],
}

/// The one place a run's evidence is written: configs, logs and what a
/// `--wrap` wrote, each server's query log (from the outcome), firewall
/// rules, pcaps and ladders.
pub fn write(out: &Path, scenario: &Scenario, o: &Outcome, kept: &Kept) -> std::io::Result<()> {
    // A directory used before must not keep another run's captures.
    let _ = std::fs::remove_dir_all(out.join("pcap"));
    for sub in ["resolvers", "servers", "firewalls", "pcap"] {
        std::fs::create_dir_all(out.join(sub))?;
    }
    for entry in std::fs::read_dir(kept.work)?.flatten() {
        let to = out.join("resolvers").join(entry.file_name());
        std::fs::create_dir_all(&to)?;
        for f in std::fs::read_dir(entry.path())?.flatten().filter(|f| f.path().is_file()) {
            std::fs::copy(f.path(), to.join(f.file_name()))?;
        }
    }
    for (host, log) in &o.servers {
        let lines: Vec<String> = log.iter().map(|r| serde_json::to_string(r).expect("serializable")).collect();
        std::fs::write(out.join("servers").join(format!("{host}.jsonl")), lines.join("\n") + "\n")?;
    }
    for n in &scenario.nodes {
        if let Some(rules) = kept.rulesets.get(&n.name) {
            std::fs::write(out.join("firewalls").join(format!("{}.nft", n.name)), rules)?;
        }
    }
    pcaps(&out.join("pcap"), kept.frames)?;
    ladders(out, o)
}

/// One classic pcap file (Ethernet) per node interface that sent DNS.
pub fn pcaps(dir: &Path, frames: &[Frame]) -> std::io::Result<()> {
    let mut by_if: BTreeMap<(String, String), Vec<&Frame>> = BTreeMap::new();
    for f in frames.iter().filter(|f| f.out) {
        by_if.entry((f.node.clone(), f.iface.clone())).or_default().push(f);
    }
    for ((node, iface), frames) in by_if {
        let file = std::fs::File::create(dir.join(format!("{node}-{iface}.pcap")))?;
        let header = PcapHeader {
            datalink: DataLink::ETHERNET,
            snaplen: crate::capture::SNAPLEN as u32,
            ..Default::default()
        };
        let mut w = PcapWriter::with_header(std::io::BufWriter::new(file), header).map_err(std::io::Error::other)?;
        for f in frames {
            let p = PcapPacket::new(Duration::from_nanos(f.ns), f.data.len() as u32, &f.data);
            w.write_packet(&p).map_err(std::io::Error::other)?;
        }
        w.into_writer().flush()?;
    }
    Ok(())
}

/// `ladder.txt` and `ladder.md`: a ladder diagram for each client query.
pub fn ladders(out: &Path, o: &Outcome) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let (mut text, mut md) = (String::new(), format!("# Ladders: {} with {}\n\n", o.scenario, o.name()));
    for l in ladder::all(o).into_iter().flatten() {
        text.push_str(&l.text());
        text.push('\n');
        md.push_str(&format!("```mermaid\n{}```\n\n", l.mermaid()));
    }
    std::fs::write(out.join("ladder.txt"), text)?;
    std::fs::write(out.join("ladder.md"), md)
}
