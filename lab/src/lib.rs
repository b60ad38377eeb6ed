//! # lab: small networks of Linux network namespaces
//!
//! This crate knows nothing of DNS. Start at [`Topology::builder`]: describe
//! segments (subnets) and nodes (interfaces with addresses, forwarding,
//! sysctls, [`Filter`] and [`Snat`] rules). [`Topology`] is inert, validated
//! data; routes are derived from the graph. Then [`Lab::up`] builds it:
//!
//! | lab call | shell equivalent |
//! |---|---|
//! | [`Netns::create`] | `unshare --net` (held by fd; no `ip netns add` bind mount) |
//! | `link::veth` | `ip link add A index I type veth peer name B index J netns N` |
//! | `link::bridge` | `ip link add br type bridge` (in a hidden switch namespace) |
//! | `link::address` | `ip addr add ADDR/LEN dev IF nodad` |
//! | `link::route` | `ip route add NET via GW` |
//! | [`NodeDraft::local_ports`] | `sysctl -w net.ipv4.ip_local_port_range="LO HI"` |
//! | [`firewall::render`] + load | `nft -f -` inside the node |
//! | [`Lab::spawn`] | `ip netns exec NODE CMD` |
//! | [`Lab::counters`] | `nft -j list counters` |
//!
//! Lifetimes do the cleanup: every namespace is held only by a file
//! descriptor, so when the [`Lab`] drops, or the process dies by SIGKILL,
//! the kernel frees namespaces, veths, bridges and nft tables. [`Process`]
//! guards kill their process on drop and keep their node's namespace alive.
//! Links never reach the host namespace, and the only allowed addresses are
//! [`topology::ALLOWED`].

pub mod error;
pub mod firewall;
mod lab;
pub mod link;
pub mod netns;
pub mod process;
pub mod topology;

pub use error::{Error, Result, TopologyError};
pub use firewall::{Action, Family, Filter, Fragments, Ports, Size, SizeOp, Snat, L4};
pub use lab::{nft_path, Lab};
pub use netns::Netns;
pub use process::{ProcState, Process};
pub use topology::{NodeDraft, Topology};
