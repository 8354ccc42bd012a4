#!/usr/bin/env bash
# redis.sh - redis-server (and its clients) on ft_malloc.
#
# Usage (from the repo root): bash tests/outside/redis.sh [filter-regex]
#   FT_MALLOC_SO   library under test (default: $PWD/libft_malloc.so)
#   REDIS_N        requests per redis-benchmark test (default 20000)
#
# Prints "SKIP redis: ..." and exits 0 when redis-server, redis-cli or
# redis-benchmark is not installed (Debian: apt-get install redis-server).
#
# Debian's redis-server is linked with libjemalloc.so.2, but it calls the
# plain malloc/calloc/realloc/free/malloc_usable_size symbols, which
# LD_PRELOAD takes over; only mallctl, nallocx and malloc_stats_print (not
# exported by ft_malloc) still reach jemalloc, so INFO's allocator_* fields
# describe jemalloc's nearly empty arenas.  redis.bindings proves this with
# LD_DEBUG=bindings.
#
#   redis.start      redis-server on a unix socket in a temp dir, LD_PRELOAD
#                    (io-threads 2, lazy frees in a background thread); the
#                    library is mapped in the server (/proc/PID/maps)
#   redis.bindings   LD_DEBUG=bindings: redis-server's malloc, calloc,
#                    realloc, free and malloc_usable_size bind to ft_malloc
#   redis.benchmark  redis-benchmark (preloaded too) -n REDIS_N -t set,get,
#                    incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,
#                    lrange_100,mset: every test reports requests per second,
#                    no error reply
#   redis.values     the same with 4 KB (SMALL) and 200 KB (LARGE) values,
#                    and pipelined (-P 16) with 2 client threads
#   redis.stats      INFO: total_error_replies 0, no errorstat, every
#                    benchmarked command called with failed_calls=0
#   redis.reload     DEBUG DIGEST, DEBUG RELOAD (save + reload the dataset),
#                    same DIGEST and DBSIZE afterwards
#   redis.cli        redis-cli ping, dbsize (> 0), FLUSHALL ASYNC (freed by the
#                    lazyfree thread), dbsize 0
#   redis.shutdown   SHUTDOWN NOSAVE: the server exits with status 0, "bye
#                    bye" in its log, no crash report
. "$(dirname "${BASH_SOURCE[0]}")/../c/common.sh"

N=${REDIS_N:-20000}
for p in redis-server redis-cli redis-benchmark; do
	if ! command -v $p >/dev/null 2>&1; then
		echo "SKIP redis: $p not installed (apt-get install redis-server)"
		exit 0
	fi
done
require_lib setup
unset LD_PRELOAD
SOBASE=$(basename "$(realpath "$FT_MALLOC_SO")")
LOGS="$BUILD/outside/redis"
rm -rf "$LOGS"
mkdir -p "$LOGS"
# a short path: unix socket names are limited to 107 bytes
D=$(mktemp -d /tmp/ft_malloc_redis.XXXXXX)
SOCK="$D/sock"
SERVER=
cleanup() {
	if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
		kill -9 "$SERVER" 2>/dev/null
	fi
	cp -f "$D"/redis.log "$D"/ld.* "$LOGS"/ 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
info "$(redis-server --version), library $FT_MALLOC_SO"

# cli ARGS...: redis-cli on the socket (preloaded too)
cli() {
	timeout 60 env LD_PRELOAD="$FT_MALLOC_SO" redis-cli -s "$SOCK" "$@"
}

info_field() { # info_field SECTION FIELD
	cli info "$1" | tr -d '\r' | sed -n "s/^$2://p"
}

# ---------------------------------------------------------------------------
# Start the server.
env LD_PRELOAD="$FT_MALLOC_SO" LD_DEBUG=bindings LD_DEBUG_OUTPUT="$D/ld" \
	redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --dir "$D" \
	--save '' --appendonly no --logfile "$D/redis.log" --daemonize no \
	--io-threads 2 --io-threads-do-reads yes --lazyfree-lazy-user-del yes \
	--lazyfree-lazy-user-flush yes --enable-debug-command local \
	</dev/null >"$D/stdout" 2>&1 &
SERVER=$!
up=0
for _ in $(seq 100); do
	if [ "$(cli ping 2>/dev/null)" = PONG ]; then
		up=1
		break
	fi
	kill -0 $SERVER 2>/dev/null || break
	sleep 0.1
done
if [ $up = 0 ]; then
	fail redis.start "the server did not answer PING within 10 s: $(tail -n1 "$D/redis.log" "$D/stdout" 2>/dev/null | grep -v '^==>' | grep . | tail -n1)"
	finish
fi
if grep -q "$SOBASE" /proc/$SERVER/maps; then
	pass redis.start
else
	fail redis.start "$SOBASE is not mapped in redis-server (pid $SERVER)"
fi

# LD_DEBUG=bindings evidence: which library each allocation symbol of
# redis-server binds to.
if wanted redis.bindings; then
	binds=$(cat "$D"/ld.* 2>/dev/null | grep -E "binding file [^ ]*redis-server \[0\] to .*normal symbol \`(malloc|calloc|realloc|free|malloc_usable_size|mallctl|nallocx|malloc_stats_print)'" |
		sed -E "s/.* to ([^ ]+) \[0\]: normal symbol \`([a-z_]+)'.*/\2 -> \1/" | sort -u)
	echo "$binds" | sed 's/^/#   /'
	bad=
	for s in malloc calloc realloc free malloc_usable_size; do
		echo "$binds" | grep -q "^$s -> .*$(basename "$FT_MALLOC_SO")\$\|^$s -> .*$SOBASE\$" || bad="$bad $s"
	done
	if [ -z "$binds" ]; then
		fail redis.bindings "no LD_DEBUG=bindings output for redis-server"
	elif [ -n "$bad" ]; then
		fail redis.bindings "not bound to ft_malloc:$bad"
	else
		pass redis.bindings
		je=$(echo "$binds" | grep jemalloc | sed 's/ ->.*//' | tr '\n' ' ')
		[ -n "$je" ] && info "still from libjemalloc (not exported by ft_malloc): $je"
	fi
fi

# bench NAME EXPECTED-TESTS ARGS...: redis-benchmark (preloaded), -q (it exits on an error reply);
# every expected test must print "NAME: X requests per second", nothing may
# mention an error.
bench() {
	local name=$1 expect=$2 rc t0=$SECONDS
	shift 2
	timeout 300 env LD_PRELOAD="$FT_MALLOC_SO" redis-benchmark -s "$SOCK" -q "$@" \
		</dev/null >"$LOGS/$name.raw" 2>&1
	rc=$?
	tr '\r' '\n' <"$LOGS/$name.raw" | grep -v '^[[:space:]]*$' | grep -v 'requests per second\|^[^:]*: rps=' >"$LOGS/$name.other"
	tr '\r' '\n' <"$LOGS/$name.raw" | grep 'requests per second' >"$LOGS/$name.out"
	sed 's/^/#   /' "$LOGS/$name.out"
	local missing=
	for t in $expect; do
		grep -Eq "^$t( \([^)]*\))?: [0-9.]+ requests per second" "$LOGS/$name.out" || missing="$missing $t"
	done
	info "$name: $((SECONDS - t0)) s"
	if [ $rc -ne 0 ]; then
		fail "$name" "redis-benchmark: $(reason $rc "$LOGS/$name.other")"
	elif grep -qi 'error' "$LOGS/$name.raw"; then
		fail "$name" "$(tr '\r' '\n' <"$LOGS/$name.raw" | grep -i -m1 error)"
	elif [ -n "$missing" ]; then
		fail "$name" "no requests-per-second line for:$missing"
	elif [ -s "$LOGS/$name.other" ]; then
		fail "$name" "unexpected output: $(head -n1 "$LOGS/$name.other")"
	else
		pass "$name"
	fi
}

TESTS=set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,mset
EXPECT="SET GET INCR LPUSH RPUSH LPOP RPOP SADD HSET SPOP ZADD ZPOPMIN LRANGE_100 MSET"
wanted redis.benchmark && bench redis.benchmark "$EXPECT" -n "$N" -t "$TESTS" -r 100000
if wanted redis.values; then
	bench redis.values.4k "SET GET LPUSH LRANGE_100" -n $((N / 4)) -d 4000 -r 2000 \
		-t set,get,lpush,lrange_100
	bench redis.values.200k "SET GET" -n $((N / 40)) -d 200000 -r 100 -t set,get
	bench redis.values.pipelined "SET GET INCR SADD HSET ZADD" -n "$N" -P 16 --threads 2 \
		-r 100000 -t set,get,incr,sadd,hset,zadd
fi

if wanted redis.stats; then
	cli info all | tr -d '\r' >"$LOGS/info.txt"
	errs=$(sed -n 's/^total_error_replies://p' "$LOGS/info.txt")
	estat=$(grep '^errorstat_' "$LOGS/info.txt" | head -n3 | tr '\n' ' ')
	why=
	[ "$errs" = 0 ] || why="total_error_replies=${errs:-missing}"
	[ -z "$estat" ] || why="$why $estat"
	for c in set get incr lpush rpush lpop rpop sadd hset spop zadd zpopmin lrange mset; do
		line=$(grep "^cmdstat_$c:" "$LOGS/info.txt")
		calls=$(echo "$line" | sed -n 's/.*[:,]calls=\([0-9]*\).*/\1/p')
		failed=$(echo "$line" | sed -n 's/.*failed_calls=\([0-9]*\).*/\1/p')
		if [ -z "$calls" ] || [ "$calls" -lt "$N" ]; then
			why="$why $c:calls=${calls:-0}<$N"
		elif [ "${failed:-0}" != 0 ]; then
			why="$why $c:failed_calls=$failed"
		fi
	done
	info "used_memory $(sed -n 's/^used_memory_human://p' "$LOGS/info.txt") (by ft_malloc's malloc_usable_size)," \
		"rss $(sed -n 's/^used_memory_rss_human://p' "$LOGS/info.txt"), keys: $(grep '^db0:' "$LOGS/info.txt")"
	if [ -z "$why" ]; then
		pass redis.stats
	else
		fail redis.stats "$why"
	fi
fi

if wanted redis.reload; then
	k0=$(cli dbsize)
	d0=$(cli debug digest)
	r=$(cli debug reload)
	k1=$(cli dbsize)
	d1=$(cli debug digest)
	if [ "$r" != OK ]; then
		fail redis.reload "DEBUG RELOAD answered '$r'"
	elif [ -z "$d0" ] || [ "$d0" != "$d1" ] || [ "$k0" != "$k1" ]; then
		fail redis.reload "dataset changed: digest $d0 -> $d1, dbsize $k0 -> $k1"
	else
		pass "redis.reload ($k0 keys, digest $d0)"
	fi
fi

if wanted redis.cli; then
	p=$(cli ping)
	k=$(cli dbsize)
	f=$(cli flushall async)
	for _ in $(seq 300); do
		[ "$(info_field memory lazyfree_pending_objects)" = 0 ] && break
		sleep 0.1
	done
	k2=$(cli dbsize)
	pending=$(info_field memory lazyfree_pending_objects)
	if [ "$p" != PONG ]; then
		fail redis.cli "PING answered '$p'"
	elif ! [ "${k:-0}" -gt 0 ] 2>/dev/null; then
		fail redis.cli "DBSIZE answered '$k' after the benchmarks (expected > 0)"
	elif [ "$f" != OK ] || [ "$k2" != 0 ] || [ "$pending" != 0 ]; then
		fail redis.cli "FLUSHALL ASYNC: '$f', then dbsize '$k2', lazyfree_pending_objects '$pending'"
	else
		pass "redis.cli (ping, dbsize $k, flushall async, dbsize 0)"
	fi
fi

# Shutdown: always (also when filtered out, to stop the server).
cli shutdown nosave >"$LOGS/shutdown.out" 2>&1
rc=
for _ in $(seq 100); do
	kill -0 $SERVER 2>/dev/null || break
	sleep 0.1
done
if kill -0 $SERVER 2>/dev/null; then
	fail redis.shutdown "the server still runs 10 s after SHUTDOWN NOSAVE"
else
	wait $SERVER
	rc=$?
	SERVER=
	if [ $rc -ne 0 ]; then
		fail redis.shutdown "redis-server: $(reason $rc "$D/redis.log")"
	elif grep -Eq 'REDIS BUG REPORT|crashed by signal|Guru Meditation' "$D/redis.log"; then
		fail redis.shutdown "crash report in the server log ($LOGS/redis.log)"
	elif ! grep -q 'ready to exit, bye bye' "$D/redis.log"; then
		fail redis.shutdown "no 'bye bye' in the server log: $(tail -n1 "$D/redis.log")"
	else
		pass redis.shutdown
	fi
fi
finish
