//! The evidence a run leaves, checked with the tools a person would use:
//! `tshark -r` on the pcaps, and a headless Chromium rendering the HTML
//! report to a PNG whose colours show the topology and the matrix.
//!
//! Needs Debian's `tshark` and `chromium` (`make deps` installs them); a
//! missing one fails the test with the command that installs it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// One run of msft-lowport with hickory, its evidence kept; shared by the tests.
fn evidence() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Under target/tmp, so a failed test's evidence stays to be looked at.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("evidence-msft-lowport");
        let _ = std::fs::remove_dir_all(&dir);
        let html = dir.with_extension("html");
        let (d, h) = (dir.to_str().unwrap(), html.to_str().unwrap());
        let out = common::run(&[
            "run",
            "msft-lowport",
            "--resolver",
            "hickory",
            "--evidence",
            d,
            "--html",
            h,
            "--ladder=resolver-low/live.com",
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        // Not a terminal: no progress drawn, even without --quiet.
        assert!(!err.contains('\x1b') && !err.contains('\r'), "progress on a pipe: {err:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("SUMMARY msft-lowport: PASS"), "{text}");
        assert!(text.lines().any(|l| l.trim_start().starts_with("hickory  PASS  queries 18/18")), "{text}");
        // --ladder drew the two asks it names, and only those.
        let drawn: Vec<&str> = text.lines().filter(|l| l.contains(" via ") && l.contains("(hickory): ")).collect();
        assert_eq!(
            drawn,
            [
                "live.com A via resolver-low (hickory): SERVFAIL",
                "live.com MX via resolver-low (hickory): SERVFAIL"
            ],
            "{text}"
        );
        // --html elsewhere: the same report, its pcap links pointing back into the evidence.
        let copy = std::fs::read_to_string(&html).expect("the --html copy");
        assert!(
            copy.contains(&format!("file://{}/hickory/pcap/", dir.display())),
            "pcap links in {}",
            html.display()
        );
        dir
    })
}

fn tool(name: &str, package: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{name} is not installed: apt-get install {package} (or `make deps`)");
    Command::new(name)
}

/// `tshark -r FILE -o ip.defragment:FALSE -Y FILTER`: the matching
/// packets, one line each, each IP fragment as it is on the wire.
fn tshark(file: &Path, filter: &str) -> Vec<String> {
    let out = tool("tshark", "tshark")
        .args(["-r", file.to_str().unwrap(), "-o", "ip.defragment:FALSE", "-Y", filter])
        .output()
        .expect("run tshark");
    assert!(out.status.success(), "tshark -r {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
}

const LOW_TO_MSFT: &str = "ip.dst == 198.51.100.0/28 && udp.dstport == 53 && udp.srcport < 1024 && udp.srcport != 53 && dns.flags.response == 0";

#[test]
fn pcaps_hold_the_low_port_queries_the_firewall_dropped() {
    let pcap = evidence().join("hickory/pcap");
    // As sent: the client's dig -b probes, the low-port resolver's queries,
    // and the NAT's rewritten ones, each in its sender's file.
    let client = tshark(&pcap.join("client-internet.pcap"), LOW_TO_MSFT);
    assert!(client.iter().any(|l| l.contains("live.com")), "{client:?}");
    assert!(!tshark(&pcap.join("resolver-low-internet.pcap"), LOW_TO_MSFT).is_empty());
    assert!(!tshark(&pcap.join("home-router-internet.pcap"), LOW_TO_MSFT).is_empty());
    // Behind the firewall not one of them appears: it dropped them all,
    // while queries from port 53 and high ports went through.
    let behind = pcap.join("msft-edge-msft-dc.pcap");
    assert_eq!(tshark(&behind, LOW_TO_MSFT), Vec::<String>::new());
    assert!(!tshark(&behind, "udp.srcport == 53 && udp.dstport == 53").is_empty());
    assert!(!tshark(&behind, "udp.srcport >= 1024 && udp.dstport == 53").is_empty());
}

#[test]
fn ladders_show_the_drop_at_the_firewall() {
    let text = std::fs::read_to_string(evidence().join("hickory/ladder.txt")).expect("ladder.txt");
    let natted = text
        .split("\n\n")
        .find(|l| l.starts_with("live.com A via resolver-natted"))
        .expect("a ladder for live.com via the NAT");
    let header = natted.lines().nth(1).unwrap();
    for col in ["client", "home-router", "resolver-natted", "root", "gtld", "msft-edge"] {
        assert!(header.contains(col), "{natted}");
    }
    // The NAT's rewrite into a low port, then the cross at the firewall.
    assert!(
        natted.lines().any(|l| l.contains("X|") && l.contains(", dropped") && l.contains(" from :")),
        "{natted}"
    );
    assert!(natted.lines().last().unwrap().ends_with("SERVFAIL"), "{natted}");
    let md = std::fs::read_to_string(evidence().join("hickory/ladder.md")).expect("ladder.md");
    assert!(md.contains("```mermaid\nsequenceDiagram\n"), "{md}");
    assert!(md.lines().any(|l| l.contains("-xn") && l.ends_with(", dropped")), "{md}");
}

/// flag-day-2020 with hickory, which never leaves UDP: every big answer
/// leaves ns1 in three fragments and only the first gets past dc-edge; and
/// with unbound, whose ladder draws its TCP retry after TC=1.
#[test]
fn pcaps_and_ladders_show_the_fragments_the_firewall_dropped() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("evidence-flag-day-2020");
    let _ = std::fs::remove_dir_all(&dir);
    let out = common::run(&["run", "flag-day-2020", "--resolver", "hickory,unbound", "--evidence", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let pcap = dir.join("hickory/pcap");
    let frags = |file: &str, filter: &str| tshark(&pcap.join(file), &format!("({filter}) && ip.src == 198.51.100.2"));
    let later = "ip.frag_offset > 0";
    let sent = frags("ns1-dc.pcap", later);
    assert!(sent.len() >= 6, "{sent:#?}");
    assert!(sent.iter().all(|l| l.contains("Fragmented IP protocol (proto=UDP 17, off=")), "{sent:#?}");
    // The sender's side of the firewall: every fragment; behind it, only the first ones.
    assert_eq!(frags("dc-edge-internet.pcap", later), Vec::<String>::new());
    let first = frags("dc-edge-internet.pcap", "ip.flags.mf == 1 && ip.frag_offset == 0");
    assert_eq!(first.len() * 2, sent.len(), "{first:#?}\n{sent:#?}");

    let outcome: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("outcome.json")).unwrap()).unwrap();
    let hickory = outcome["runs"].as_array().unwrap().iter().find(|r| r["kind"] == "hickory").unwrap();
    let dropped: Vec<&serde_json::Value> = hickory["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["end"]["fragment_dropped"] == "dc-edge")
        .collect();
    assert_eq!(dropped.len(), first.len(), "{dropped:#?}");
    for m in dropped {
        let lost: Vec<(u64, bool)> = m["fragments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["offset"].as_u64().unwrap(), f["dropped"].as_bool().unwrap_or(false)))
            .collect();
        assert_eq!(lost, [(0, false), (1480, true), (2960, true)], "{m}");
    }
    let ladder = std::fs::read_to_string(dir.join("hickory/ladder.txt")).unwrap();
    let big = ladder
        .split("\n\n")
        .find(|l| l.starts_with("big.example.com TXT via resolver"))
        .expect("big's ladder");
    assert!(big.contains("|X........| NOERROR 1 answer in 3 fragments, dropped"), "{big}");
    assert!(big.contains("| fragment @1480, 1480 B, dropped"), "{big}");
    assert!(big.lines().last().unwrap().ends_with("SERVFAIL"), "{big}");
    // unbound's: the fragments dropped, a smaller buffer, TC=1, then the
    // same question over TCP and its whole answer, in that order.
    let ladder = std::fs::read_to_string(dir.join("unbound/ladder.txt")).unwrap();
    let big = ladder
        .split("\n\n")
        .find(|l| l.starts_with("big.example.com TXT via resolver"))
        .expect("big's ladder");
    let at = |what: &str| big.find(what).unwrap_or_else(|| panic!("no {what:?} in\n{big}"));
    let (dropped, tc, syn) = (
        at("in 3 fragments, dropped"),
        at("|<......................................| truncated (TC)"),
        at("| TCP SYN"),
    );
    assert!(dropped < tc && tc < syn, "{big}");
    assert!(big[syn..].contains("|<......................................| NOERROR 1 answer"), "{big}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The report test rewrites report.html; Chromium must not load it meanwhile.
static REPORT: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn the_report_is_self_contained_and_rebuilt_by_dnslab_report() {
    let _g = REPORT.lock().unwrap_or_else(|e| e.into_inner());
    let html = std::fs::read_to_string(evidence().join("report.html")).expect("report.html");
    for part in [
        "<h2>Topology</h2><svg",
        "Outcome: each query",
        "Firewall counters",
        "lowport_drop",
        "hickory/pcap/client-internet.pcap",
        "<details open>",
    ] {
        assert!(html.contains(part), "no {part:?} in the report");
    }
    // Nothing to fetch: no scripts, stylesheets or images from anywhere.
    for fetch in ["<script", "<link", "<img", "src=", "url(http", "@import"] {
        assert!(!html.contains(fetch), "the report fetches something: {fetch}");
    }
    std::fs::remove_file(evidence().join("report.html")).unwrap();
    let out = common::run(&["report", evidence().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(evidence().join("report.html")).unwrap(), html);
}

/// Pixels of exactly this colour in an RGBA screenshot.
fn count(img: &[u8], rgb: [u8; 3]) -> usize {
    img.chunks_exact(4).filter(|p| p[..3] == rgb).count()
}

#[test]
fn chromium_renders_the_topology_and_the_matrix() {
    let _g = REPORT.lock().unwrap_or_else(|e| e.into_inner());
    let dir = evidence();
    let profile = dir.join("chromium-profile");
    let shot = dir.join("report.png");
    let out = tool("chromium", "chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000",
            &format!("file://{}", dir.join("report.html").display()),
        ])
        .output()
        .expect("run chromium");
    assert!(shot.exists(), "no screenshot: {}", String::from_utf8_lossy(&out.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!((info.width, info.height), (1280, 2000));
    let rgba: Vec<u8> = match info.color_type {
        png::ColorType::Rgba => buf[..info.buffer_size()].to_vec(),
        png::ColorType::Rgb => buf[..info.buffer_size()].chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    // The topology: server boxes, the firewall, the NAT, the network bars.
    // The matrix: cells as expected (the run passed, so none are red).
    for (what, rgb, at_least) in [
        ("server boxes", [0xb9, 0xd3, 0xf0], 20_000),
        ("the firewall's box", [0xf4, 0xb6, 0xb0], 5_000),
        ("the NAT's box", [0xfb, 0xd3, 0x8d], 5_000),
        ("network bars", [0x4a, 0x6f, 0xa5], 5_000),
        ("matrix cells as expected", [0xbf, 0xe8, 0xbf], 20_000),
    ] {
        let n = count(&rgba, rgb);
        assert!(
            n >= at_least,
            "{what}: {n} pixels of {rgb:02x?}, expected at least {at_least}; see {}",
            shot.display()
        );
    }
}

#[test]
fn a_run_on_a_terminal_shows_progress_unless_quiet() {
    // script(1) gives the run a terminal; its output is the terminal's.
    let on_tty = |extra: &str| {
        let cmd = format!(
            "{} run msft-lowport --resolver hickory --format json {extra} >/dev/null",
            env!("CARGO_BIN_EXE_dnslab")
        );
        let out = tool("script", "bsdutils")
            .args(["-qefc", &cmd, "/dev/null"])
            .env("DNSLAB_SCENARIOS", common::repo().join("scenarios"))
            .output()
            .expect("run script");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = on_tty("");
    for step in ["hickory", "queries sent"] {
        assert!(shown.contains(step), "no {step:?} in the progress: {shown:?}");
    }
    let quiet = on_tty("--quiet");
    assert!(!quiet.contains("queries sent"), "progress despite --quiet: {quiet:?}");
}
