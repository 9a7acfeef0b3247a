#!/usr/bin/env bash
# The scheduler layer's dependencies run one way: each file of skynet.sched
# (and skynet.core below it) may use functions of the files below it in the
# list, never of those above.  Each file is compiled alone and its
# undefined symbols are looked up in the others with nm.
source "$(dirname "$0")/lib.sh"
W=$E2E_WORK

# top to bottom
LAYERS="lua-sched lua-sched-api lua-sched-exit lua-sched-dispatch lua-sched-deadline lua-sched-session lua-sched-smap lua-sched-state lua-skynet lua-seri"
CC=${CC:-cc}
for f in $LAYERS; do
	if ! $CC -std=c11 -D_GNU_SOURCE -O0 -I/usr/include/lua5.4 -Iskynet-src -Ilualib-src -fPIC \
		-c -o "$W/$f.o" "lualib-src/$f.c" 2> "$W/$f.err"; then
		fail "layers: $f.c compiles alone" "$(head -3 "$W/$f.err")"
		exit 0
	fi
done
for f in $LAYERS; do
	nm --defined-only "$W/$f.o" | awk '$2 ~ /[TDBR]/ { print $3 }' | sort -u > "$W/$f.def"
done
pos=0
for f in $LAYERS; do
	pos=$((pos + 1))
	nm -u "$W/$f.o" | awk '{ print $2 }' | sort -u > "$W/$f.undef"
	upward=""
	i=0
	for g in $LAYERS; do
		i=$((i + 1))
		[ "$i" -le "$pos" ] || break
		[ "$g" = "$f" ] && continue
		for sym in $(comm -12 "$W/$f.undef" "$W/$g.def"); do
			upward="$upward $sym<-$g"
		done
	done
	if [ -z "$upward" ]; then
		pass "layers: $f.c uses only the files below it"
	else
		fail "layers: $f.c uses only the files below it" "uses$upward"
	fi
done
