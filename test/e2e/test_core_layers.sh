#!/usr/bin/env bash
# The core's scheduling files depend one way: contexts and send
# (skynet_server.c) -> who polls the sockets (skynet_poller.c) -> the run
# queue and its wake policy (skynet_runq.c, which reaches the poller only
# through the hook skynet_start.c gives it) -> mailboxes (skynet_mq.c) ->
# the clock (skynet_clock.c).  Each file may use
# functions of the files below it in that list, never of those above.  Each
# is compiled alone and its undefined symbols are looked up in the others
# with nm (the same method as test_layers.sh for skynet.sched).
source "$(dirname "$0")/lib.sh"
W=$E2E_WORK

# top to bottom
LAYERS="skynet_server skynet_poller skynet_runq skynet_mq skynet_clock"
CC=${CC:-cc}
for f in $LAYERS; do
	if ! $CC -std=c11 -D_GNU_SOURCE -O0 -I/usr/include/lua5.4 -Iskynet-src -fPIC \
		-c -o "$W/$f.o" "skynet-src/$f.c" 2> "$W/$f.err"; then
		fail "core layers: $f.c compiles alone" "$(head -3 "$W/$f.err")"
		exit 0
	fi
	nm --defined-only "$W/$f.o" | awk '$2 ~ /[TDBR]/ { print $3 }' | sort -u > "$W/$f.def"
	nm -u "$W/$f.o" | awk '{ print $2 }' | sort -u > "$W/$f.undef"
done
pos=0
for f in $LAYERS; do
	pos=$((pos + 1))
	upward=""
	i=0
	for g in $LAYERS; do
		i=$((i + 1))
		[ "$i" -lt "$pos" ] || break
		for sym in $(comm -12 "$W/$f.undef" "$W/$g.def"); do
			upward="$upward $sym<-$g"
		done
	done
	if [ -z "$upward" ]; then
		pass "core layers: $f.c uses only the files below it"
	else
		fail "core layers: $f.c uses only the files below it" "uses$upward"
	fi
done
