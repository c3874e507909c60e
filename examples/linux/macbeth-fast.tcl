# IP address failover on host macbeth (the slave), for Linux, tuned for the fastest
# takeover: /etc/failover/macbeth.tcl in place of macbeth.tcl.
#
# The same service as macbeth.tcl with two differences (docs/deploy.md §5):
#   - the procedures move the address themselves with failsh's built-in `ipaddr` (rtnetlink,
#     what `ip addr replace` / `ip addr del` do) and `grarp`, instead of running the service
#     script (a shell, its defaults file, an `ip` and a `grarp` process: 7 to 10 ms before
#     the first gratuitous ARP on a 2-core host, against well under 1 ms);
#   - a 5 ms interval, 4 misses and a 5 ms reply timeout: the slave takes over after about
#     25 ms without an answer (keepalived at its fastest, advert_int 0.01, waits 36 ms).
# The service script 198.18.0.50 is still what boot and shutdown use (start, fail, recover,
# status); only failsh's procedures bypass it. Keep `interface` and `addresses` in step with
# INTERFACE, PREFIXLEN and EXTRA_ADDRESSES in /etc/default/failover.

set interface eth0
# Every address of the service with its prefix length; an IPv6 one (e.g. 2001:db8::50/64)
# moves along when it is added here.
set addresses {198.18.0.50/24}
# Gratuitous ARP: rounds, and the time between them (ms). The first round goes out as soon
# as the address is up; the procedure returns after the last.
set grarp_rounds 3
set grarp_interval_ms 100

# what stopservice returns here: the slave goes back to RECOVER, so that
# it may take over again the next time the master fails
set stopped RECOVER

# address_up, address_down, announce and the service procedures, shared with lukretia-fast.tcl
source [file join [file dirname [info script]] procedures-fast.tcl]

failsvc 198.18.0.50 create
failsvc 198.18.0.50 interval 0.005
failsvc 198.18.0.50 misses 4
failsvc 198.18.0.50 timeout 0.005
# A cut cable stops the service here at once (the kernel says so), instead of leaving the
# address behind the cut, and keeps it FAIL until the carrier is back: then RECOVER, and
# the handshake brings it back (docs/deploy.md §6).
failsvc 198.18.0.50 track $interface
# A crash leaves nothing behind: the addresses ipaddr adds live 1 s in the kernel unless
# failsh renews them (four times a second), and faild turns the UP into FAIL ("lease
# expired") 1.4 s after the last renewal, so a slave takes over from a hung failsh too.
failsvc 198.18.0.50 lease 1
failsvc 198.18.0.50 start startservice
failsvc 198.18.0.50 stop stopservice
failsvc 198.18.0.50 reclaim reclaimservice
failsvc 198.18.0.50 masters lukretia

# faild's port, the same on both hosts: PORT of /etc/default/failover, which
# failsh.service and failsh.init pass on to failsh, or the seed's 1291
set port [expr {[info exists ::env(PORT)] ? $::env(PORT) : 1291}]

failhost lukretia address 198.18.0.1
failhost lukretia port $port
failhost lukretia protocol tcp
failhost lukretia community public

failhost localhost port $port
failhost localhost protocol tcp
failhost localhost community genesis
