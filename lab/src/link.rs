//! Links, addresses and routes over rtnetlink, in process. Each namespace
//! gets its own netlink socket, opened while a setup thread is inside it; the
//! socket stays bound to that namespace, so one runtime drives them all.

use std::net::IpAddr;
use std::os::fd::RawFd;

use futures::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::address::AddressHeaderFlags;
use rtnetlink::packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::error::{Error, Result};
use crate::topology::Route;

/// Name of the bridge inside a segment's hidden switch namespace.
pub const BRIDGE: &str = "br";

/// `ip link set lo up`
pub async fn lo_up(h: &Handle) -> Result<()> {
    h.link()
        .set(LinkUnspec::new_with_name("lo").up().build())
        .execute()
        .await
        .map_err(Error::netlink("lo up"))
}

/// `ip link add br type bridge; ip link set br up`
pub async fn bridge(h: &Handle) -> Result<()> {
    h.link()
        .add(LinkBridge::new(BRIDGE).build())
        .execute()
        .await
        .map_err(Error::netlink("add bridge"))
}

/// Interface indexes of the two ends of a veth, distinct from each other.
#[derive(Debug, Clone, Copy)]
pub struct VethIndex {
    pub local: u32,
    pub peer: u32,
}

/// `ip link add LOCAL index I [master br] type veth peer name PEER index J
/// netns FD`, in one request. Both ends start down: asking for "up" in the
/// same request fails with ENOTCONN, because a veth cannot open before its
/// peer exists.
///
/// The indexes are ours, not the kernel's, because of linkwatch: a link
/// whose index equals its peer's (each new namespace numbers from 2, so two
/// fresh ends are both 2) counts as a plain device, and its carrier change
/// waits in linkwatch's once-a-second batch. Until then the link is not
/// running, IPv6 does not use it, and the first packet through a router
/// waited a second for neighbour discovery. With the two indexes different
/// the kernel treats the change as urgent and applies it at once.
///
/// With `mtu`, both ends get it (`mtu N` on each): a bridge takes the
/// smallest MTU of its ports, so a segment's links all have it.
pub async fn veth(h: &Handle, local: &str, peer: &str, peer_ns: RawFd, master: Option<u32>, index: VethIndex, mtu: Option<u32>) -> Result<()> {
    let mut peer_b = LinkUnspec::new_with_name(peer).setns_by_fd(peer_ns);
    if let Some(m) = mtu {
        peer_b = peer_b.mtu(m);
    }
    let mut peer_msg = peer_b.build();
    peer_msg.header.index = index.peer;
    let mut b = LinkVeth::new(local, peer).set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)));
    if let Some(m) = mtu {
        b = b.mtu(m);
    }
    if let Some(m) = master {
        b = b.controller(m);
    }
    let mut msg = b.build();
    msg.header.index = index.local;
    h.link()
        .add(msg)
        .execute()
        .await
        .map_err(Error::netlink(format!("add veth {local} <-> {peer}")))
}

/// `ip link show NAME` -> ifindex
pub async fn index(h: &Handle, name: &str) -> Result<u32> {
    let mut s = h.link().get().match_name(name).execute();
    match s.try_next().await {
        Ok(Some(m)) => Ok(m.header.index),
        Ok(None) => Err(Error::Netlink {
            what: format!("no link {name}"),
            source: rtnetlink::Error::RequestFailed,
        }),
        Err(e) => Err(Error::netlink(format!("find link {name}"))(e)),
    }
}

/// `ip link set NAME up` (the veth peer usually is already, this makes sure)
pub async fn up(h: &Handle, idx: u32) -> Result<()> {
    h.link()
        .set(LinkUnspec::new_with_index(idx).up().build())
        .execute()
        .await
        .map_err(Error::netlink("link up"))
}

/// `ip addr add ADDR/PREFIX dev IDX nodad`
pub async fn address(h: &Handle, idx: u32, net: IpNet) -> Result<()> {
    let mut r = h.address().add(idx, net.addr(), net.prefix_len());
    r.message_mut().header.flags |= AddressHeaderFlags::Nodad;
    r.execute().await.map_err(Error::netlink(format!("add address {net}")))
}

/// `ip route add DEST via GW`
pub async fn route(h: &Handle, r: &Route) -> Result<()> {
    let msg = match (r.dest.addr(), r.via) {
        (IpAddr::V4(d), IpAddr::V4(g)) => RouteMessageBuilder::<std::net::Ipv4Addr>::new()
            .destination_prefix(d, r.dest.prefix_len())
            .gateway(g)
            .build(),
        (IpAddr::V6(d), IpAddr::V6(g)) => RouteMessageBuilder::<std::net::Ipv6Addr>::new()
            .destination_prefix(d, r.dest.prefix_len())
            .gateway(g)
            .build(),
        _ => unreachable!("routes are derived per address family"),
    };
    h.route()
        .add(msg)
        .execute()
        .await
        .map_err(Error::netlink(format!("add route {} via {}", r.dest, r.via)))
}
