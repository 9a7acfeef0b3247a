#!/usr/bin/env bash
# Upstream's test/testdatasheet.lua (test/e2e/lua/testdatasheet.lua) run as
# the start service of a node; its output must match the recording of spec
# api-shared-data.md §8.4: the LAUNCH lines, the child's dump before [1],
# the same table pointer for c in [1] and [2], no "a" in [2], [3] flat.
source "$(dirname "$0")/lib.sh"

conf="$E2E_WORK/config"
out="$E2E_WORK/out.log"
write_config "$conf" testdatasheet
./skynet "$conf" > "$out" 2>&1 &
pid=$!
E2E_PIDS+=("$pid")
wait_for "$out" '^\[:00000002\] KILL self' 15
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

python3 - "$out" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()

def check(name, ok, why=""):
    print(("PASS " if ok else "FAIL ") + "testdatasheet: " + name + ("" if ok else ": " + why))

launch = [l for l in lines if " LAUNCH " in l]
want = ["[:00000009] LAUNCH snlua service_provider", "[:0000000a] LAUNCH snlua service_cell datasheet",
        "[:0000000b] LAUNCH snlua testdatasheet child"]
got = [l for l in launch if l in want]
check("LAUNCH lines service_provider, service_cell datasheet, testdatasheet child", got == want, repr(launch))

# the printed lines, in order, with the two log lines that place them
keep = [l for l in lines if re.match(r"^(\[CHILD\]|\[1\]|\[2\]|\[2\.c\]|\[3\]|sleep$)", l)
        or l in ("[:0000000b] KILL self", "[:00000002] KILL self")]

def group(prefixes, start):
    g = []
    i = start
    while i < len(keep) and keep[i].split("\t")[0] in prefixes:
        g.append(keep[i]); i += 1
    return g, i

def same_set(name, g, want, pointer=None):
    w = [x.replace("P", pointer) if pointer else x for x in want]
    ok = sorted(g) == sorted(w)
    ci = [i for i, l in enumerate(g) if "\tc\ttable: " in l]
    di = [i for i, l in enumerate(g) if ".c\t" in l]
    if ci and di and di[0] < ci[0]:
        ok = False
    check(name, ok, repr(g))

ptr = lambda g: next((l.split("\t")[2] for l in g if "\tc\ttable: 0x" in l), "?")
g, i = group({"[CHILD]", "[CHILD].c"}, 0)
same_set("child lines first", g, ["[CHILD]\ta\t1", "[CHILD]\tb\t2", "[CHILD]\tc\tP", "[CHILD].c\t1\t3"], ptr(g))
check("the child exits before [1]", keep[i:i + 1] == ["[:0000000b] KILL self"], repr(keep[i:i + 1]))
g, i = group({"[1]", "[1].c"}, i + 1)
p1 = ptr(g)
same_set("[1] lines", g, ["[1]\ta\t1", "[1]\tb\t2", "[1]\tc\tP", "[1].c\t1\t3"], p1)
check("sleep after [1]", keep[i:i + 1] == ["sleep"], repr(keep[i:i + 1]))
g, i = group({"[2]", "[2].c"}, i + 1)
same_set("[2] lines: no a, c is the same table as in [1]", g, ["[2]\tb\t4", "[2]\tc\tP", "[2].c\t1\t5"], p1)
check("[2.c] line", keep[i:i + 1] == ["[2.c]\t1\t5"], repr(keep[i:i + 1]))
check("sleep after [2.c]", keep[i + 1:i + 2] == ["sleep"], repr(keep[i + 1:i + 2]))
g, i = group({"[3]"}, i + 2)
same_set("[3] lines", g, ["[3]\ta\t6", "[3]\tc\t7", "[3]\td\t8"])
check("bootstrap ends after [3]", keep[i:] == ["[:00000002] KILL self"], repr(keep[i:]))
PY
expect "testdatasheet: no error in the log" bash -c "! grep -qi 'error' '$out'"
