#!/bin/sh
# ucarp downscript: $1 interface, $2 virtual address.
ip addr del "$2/24" dev "$1" 2>/dev/null
exit 0
