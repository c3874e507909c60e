#!/bin/sh
# ucarp upscript: $1 interface, $2 virtual address (ucarp sends the gratuitous ARP itself).
exec ip addr replace "$2/24" dev "$1" label "$1:1"
