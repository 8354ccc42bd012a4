#!/usr/bin/env bash
# mmapcount.sh - the library must not call mmap/munmap for every allocation.
#
# Runs each mmapcount.c workload under `strace -f` with the library preloaded
# and counts mmap + munmap calls between the START and END markers the
# program writes:
#   mmap.mixed        10,000 live TINY/SMALL blocks (16..4000 B): <= 100
#   mmap.loop_SIZE    10,000 malloc/free of one size
#                     (16, 1000, 20000, 100000, 1 MiB, 16 MiB):   <= 10
#   mmap.medium       2,048 live blocks of 32..128 KiB, 50,000 of them
#                     replaced at random (freed blocks are reused):  <= 500
#   mmap.shrink       20,000 x malloc(16..100000), realloc to half, free,
#                     counting madvise too: <= 500 (a madvise for every other
#                     operation before the slices a zone never reached stayed
#                     clean)
#   mmap.classes      one block at a time of every class for 400 ms (a dozen
#                     purge ticks, each finding every class's zone empty),
#                     counting madvise too: <= 20 (36-51 while each tick
#                     released every empty zone, made again right after)
#   mmap.regrow       200 blocks grown by realloc from 60,000 to 200,000 bytes
#                     and shrunk back, in turn, 50,000 times: <= 1,000 (17,000
#                     while the LARGE cache kept 64 free ranges)
#   mmap.retained     4,000 LARGE blocks of 32..100 KiB allocated and kept
#                     (none freed, so none reused): <= 600 (290 mappings of
#                     1 MiB and the growth of the table of live blocks, 250
#                     calls; 4,240 while each block was a mapping of its own)
# Usage: bash tests/c/mmapcount.sh [filter-regex]   (from the repo root)
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

require_lib mmap
DIR="$TESTS_ROOT/c"
BIN="$BUILD/c/mmapcount"

if ! command -v strace >/dev/null 2>&1; then
	fail mmap "strace is not installed (apt-get install -y strace)"
	finish
fi
build "$BIN" "$DIR/mmapcount.c" || finish

for t in $("$BIN" --list); do
	name="mmap.$t"
	wanted "$name" || continue
	case $t in
	mixed) max=100 ;;
	medium | shrink) max=500 ;;
	retained) max=600 ;;
	classes) max=20 ;;
	regrow) max=1000 ;;
	*) max=10 ;;
	esac
	mkdir -p "$BUILD/logs"
	trace="$BUILD/logs/$name.strace"
	{
		timeout -k 5 "$TIMEOUT" strace -f -qq -o "$trace" -e trace=mmap,munmap,madvise,write \
			-E LD_PRELOAD="$FT_MALLOC_SO" -E FT_EXPECT_SO="$FT_MALLOC_SO" \
			"$BIN" "$t" >"$BUILD/logs/$name.out" 2>"$BUILD/logs/$name.err"
		rc=$?
	} 2>/dev/null
	if [ $rc -ne 0 ]; then
		fail "$name" "$(reason $rc "$BUILD/logs/$name.err")"
		continue
	fi
	counts=$(awk '
		/write\(1, "START\\n"/ { on = 1; seen_start = 1; next }
		/write\(1, "END\\n"/ { on = 0; seen_end = 1; next }
		on && /(^|[ ])mmap\(/ { m++ }
		on && /(^|[ ])munmap\(/ { u++ }
		on && /(^|[ ])madvise\(/ { a++ }
		END { printf "%d %d %d %d %d\n", m, u, seen_start, seen_end, a }' "$trace")
	set -- $counts
	if [ "$3" != 1 ] || [ "$4" != 1 ]; then
		fail "$name" "START/END markers not found in the strace output"
		continue
	fi
	total=$(($1 + $2))
	what="$1 mmap + $2 munmap"
	if [ "$t" = shrink ] || [ "$t" = classes ]; then
		total=$((total + $5))
		what="$what + $5 madvise"
	fi
	info "$name: $what between markers (max $max; $5 madvise)"
	if [ $total -le $max ]; then
		pass "$name"
	else
		fail "$name" "$what = $total system calls between markers, want <= $max"
	fi
done
finish
