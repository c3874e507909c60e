//! Gratuitous ARP and IPv6 neighbour advertisements (filled by its issue).
