# bash completion for the failover programs: faild failsh grarp failc failstat failmon
# faildebug faildemo failsim. Installed once and linked under each program's name in
# /usr/share/bash-completion/completions/. tests/tests/man_pages.rs checks that every option
# of each program's --help is listed here.

_failover_log_facilities="poll decision procedure store net monitor debug config all"

# _failover_complete "OPTIONS" "OPTIONS THAT TAKE A VALUE"
_failover_complete() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
    fi
    local options=$1 with_value=" $2 "
    if [[ $with_value == *" $prev "* ]]; then
        case $prev in
            --runtime) mapfile -t COMPREPLY < <(compgen -W "smol blocking" -- "$cur") ;;
            -d) mapfile -t COMPREPLY < <(compgen -W "$_failover_log_facilities" -- "$cur") ;;
            *) _failover_value "$prev" ;;
        esac
        return
    fi
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
        return
    fi
    _failover_operand
}

# Default value completion: a file.
_failover_value() {
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}
_failover_operand() {
    COMPREPLY=()
}

_faild() {
    _failover_value() {
        case $1 in
            -c | -s | -r) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
            -u) mapfile -t COMPREPLY < <(compgen -u -- "$cur") ;;
            *) COMPREPLY=() ;;
        esac
    }
    _failover_operand() { COMPREPLY=(); }
    _failover_complete \
        "-c -s -r -d -u -F -m -U -T -V -n -a -p -D -h --no-udp --no-tcp --runtime
         --tcp-idle-timeout --tcp-frame-timeout --tcp-unauthenticated-idle-timeout
         --max-connections --max-unauthenticated --max-per-source --debug-community
         --metrics --journal --version --help" \
        "-c -s -r -d -u -n -a -p -D --runtime --tcp-idle-timeout --tcp-frame-timeout
         --tcp-unauthenticated-idle-timeout --max-connections --max-unauthenticated
         --max-per-source --debug-community --metrics"
}

_failsh() {
    _failover_value() {
        case $1 in
            -f | -l | -i | --record | --notify) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
            *) COMPREPLY=() ;;
        esac
    }
    _failover_operand() { COMPREPLY=(); }
    _failover_complete \
        "-f -F -t -k -d -c -l -a -m -D -i -V --runtime --metrics --notify --record
         --local-host --seed --help --version" \
        "-f -d -c -l -a -m -D -i --runtime --metrics --notify --record --local-host --seed"
}

_grarp() {
    _failover_value() { COMPREPLY=(); }
    _failover_operand() {
        # INTERFACE first, then ADDRESS
        local i operands=0
        for ((i = 1; i < COMP_CWORD; i++)); do
            case ${COMP_WORDS[i]} in
                -c | -i | --count | --interval) ((i++)) ;;
                -*) ;;
                *) ((operands++)) ;;
            esac
        done
        if ((operands == 0)); then
            mapfile -t COMPREPLY < <(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur")
        else
            COMPREPLY=()
        fi
    }
    _failover_complete \
        "-b -c -i -h -V --background --count --interval --request --reply --both --help --version" \
        "-c -i --count --interval"
}

_failc() {
    _failover_value() {
        case $1 in
            -s | --state) mapfile -t COMPREPLY < <(compgen -W "UP RECOVER FAIL" -- "$cur") ;;
            -H | --host) mapfile -t COMPREPLY < <(compgen -A hostname -- "$cur") ;;
            *) COMPREPLY=() ;;
        esac
    }
    _failover_operand() { COMPREPLY=(); }
    _failover_complete \
        "-H -p -c -T -U -t -s -b -h -V --host --port --community --tcp --udp --source
         --timeout --runtime --state --backup --help --version" \
        "-H -p -c -t -s -b --host --port --community --source --timeout --runtime --state
         --backup"
}

_failstat() {
    _failover_value() {
        case $1 in
            -H | --host) mapfile -t COMPREPLY < <(compgen -A hostname -- "$cur") ;;
            *) COMPREPLY=() ;;
        esac
    }
    _failover_operand() { COMPREPLY=(); }
    _failover_complete \
        "-H -p -c -T -U -t -h -V --host --port --community --tcp --udp --source --timeout
         --runtime --json --help --version" \
        "-H -p -c -t --host --port --community --source --timeout --runtime"
}

_failmon() {
    _failover_value() { COMPREPLY=(); }
    _failover_operand() { mapfile -t COMPREPLY < <(compgen -A hostname -- "$cur"); }
    _failover_complete "-p -t -1 -l -h -r -c -V --json --help --version" "-p -t -r"
}

_faildebug() {
    _failover_value() { COMPREPLY=(); }
    _failover_operand() {
        mapfile -t COMPREPLY < <(compgen -W "$_failover_log_facilities error warn info debug trace" -A hostname -- "$cur")
    }
    _failover_complete "-p -c -t -h -V --help --version" "-p -c -t"
}

_faildemo() {
    _failover_value() { COMPREPLY=(); }
    _failover_operand() { COMPREPLY=(); }
    _failover_complete "-h --interval --runtime --step-timeout-ms --keep --help" \
        "--interval --runtime --step-timeout-ms"
}

_failsim() {
    if ((COMP_CWORD == 1)); then
        mapfile -t COMPREPLY < <(compgen -W "run seed seeds replay bench -h --help" -- "${COMP_WORDS[1]}")
        return
    fi
    _failover_value() {
        case $1 in
            --timeline | --write) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
            --trace-dir) mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
            *) COMPREPLY=() ;;
        esac
    }
    _failover_operand() { mapfile -t COMPREPLY < <(compgen -f -- "$cur"); }
    _failover_complete \
        "-h -v -q --help --timeline --trace-dir --write --verbose --quiet --witness --host" \
        "--timeline --trace-dir --write --host"
}

complete -F _faild faild
complete -F _failsh failsh
complete -F _grarp grarp
complete -F _failc failc
complete -F _failstat failstat
complete -F _failmon failmon failmon.cgi
complete -F _faildebug faildebug
complete -F _faildemo faildemo
complete -F _failsim failsim
