#!/usr/bin/env bash
# run.sh - the heap report (ft_malloc_report): an HTML page with an SVG map of the heap.
#
# Usage (from the repo root): bash tests/report/run.sh
#   FT_MALLOC_SO (default: $PWD/libft_malloc.so), FT_TEST_TIMEOUT (default 60)
#
# heap.c (linked with -lft_malloc, not preloaded) allocates TINY, SMALL and LARGE blocks,
# frees some, prints show_alloc_mem() and then writes the report, with nothing allocated in
# between. The zones are counted against show_alloc_mem's output, not against a number
# written in the test: the report draws EVERY zone (also the ones with no live block), and
# marks each <g class="zone"> with data-live (its live blocks), so
#   - the zones with data-live > 0, in page order, must be exactly show_alloc_mem's zone
#     headers ("KIND : 0xADDR"), in the same (address) order;
#   - the page's "zones" statistic must equal the number of <g class="zone"> elements;
#   - its "bytes requested" statistic must equal show_alloc_mem's Total;
#   - LARGE zones must number at least the LARGE blocks heap.c holds.
#
#   report.run         heap.c exits 0, ft_malloc_report returned 0, and show_alloc_mem prints
#                      the same before and after it (the report leaves no block behind)
#   report.html        the file is one self-contained page: no script, link, import, url(),
#                      src/href or http(s) reference; the zone checks above on the raw file
#   report.dom         headless Chromium loads it (--dump-dom) without console errors, and the
#                      DOM it built passes the same zone checks
#   report.screenshot  headless Chromium renders it to a PNG (tests/build/report/heap.png)
# The two Chromium tests are skipped (exit status 0) only when /usr/bin/chromium is missing.
. "$(dirname "${BASH_SOURCE[0]}")/../c/common.sh"

DIR="$TESTS_ROOT/report"
B="$BUILD/report"
CHROMIUM=/usr/bin/chromium
require_lib report
info "library: $FT_MALLOC_SO"
LIBDIR=$(dirname "$FT_MALLOC_SO")
LIBNAME=$(basename "$FT_MALLOC_SO")
mkdir -p "$B"
rm -f "$B/out.html" "$B/heap.png" "$B/dom.html"

build "$B/heap" "$DIR/heap.c" -L"$LIBDIR" -l:"$LIBNAME" -Wl,-rpath,"$LIBDIR" || finish

(cd "$B" && run_capture report.run 0 "$B/heap" "$B/out.html")
rc=$?
LAST_OUT="$BUILD/logs/report.run.out"
LAST_ERR="$BUILD/logs/report.run.err"
if [ $rc -ne 0 ]; then
	fail report.run "$(reason $rc "$LAST_ERR")"
	finish
elif [ ! -s "$B/out.html" ]; then
	fail report.run "no report written to $B/out.html"
	finish
fi
SHOW="$B/show.before"
sed '/^--$/,$d' "$LAST_OUT" >"$SHOW"
sed '1,/^--$/d' "$LAST_OUT" >"$B/show.after"
if ! grep -q '^--$' "$LAST_OUT" || ! cmp -s "$SHOW" "$B/show.after"; then
	fail report.run "show_alloc_mem differs after ft_malloc_report (see $LAST_OUT)"
	finish
fi
pass report.run
large_live=$(sed -n 's/^LARGE_LIVE //p' "$LAST_ERR")

# show_alloc_mem's zone headers as "KIND 0xADDR" lines, and its Total.
grep -E '^(TINY|SMALL|LARGE) : 0x[0-9A-F]+$' "$SHOW" | sed 's/ : / /' >"$B/show.zones"
show_total=$(sed -n 's/^Total : \([0-9]*\) bytes$/\1/p' "$SHOW")

# check_zones NAME FILE: the zone checks on a page (raw file or dumped DOM); prints why not.
check_zones() {
	local f=$1 n stat req large
	grep -o '<g class="zone"[^>]*>' "$f" >"$f.g"
	n=$(wc -l <"$f.g")
	sed -n 's/.*data-kind="\([A-Z]*\)" data-addr="\(0x[0-9A-F]*\)".* data-live="\([0-9]*\)".*/\1 \2 \3/p' \
		"$f.g" >"$f.zones"
	if [ "$(wc -l <"$f.zones")" -ne "$n" ]; then
		echo "a <g class=\"zone\"> lacks data-kind, data-addr or data-live"
		return 1
	fi
	stat=$(grep -o 'id="zones" data-value="[0-9]*"' "$f" | grep -o '[0-9]*' | head -n1)
	if [ "$n" -eq 0 ] || [ "$stat" != "$n" ]; then
		echo "$n <g class=\"zone\"> elements, but the zones statistic says '${stat}'"
		return 1
	fi
	awk '$3 != 0 { print $1, $2 }' "$f.zones" >"$f.live"
	if ! cmp -s "$f.live" "$B/show.zones"; then
		echo "zones with live blocks differ from show_alloc_mem's headers ($(wc -l <"$f.live") vs" \
			"$(wc -l <"$B/show.zones")): $(diff "$B/show.zones" "$f.live" | grep '^[<>]' | head -n 3 | tr '\n' ' ')"
		return 1
	fi
	req=$(grep -o 'id="requested" data-value="[0-9]*"' "$f" | grep -o '[0-9]*' | head -n1)
	if [ -z "$show_total" ] || [ "$req" != "$show_total" ]; then
		echo "bytes requested '${req}' != show_alloc_mem's Total '${show_total}'"
		return 1
	fi
	large=$(grep -c '^LARGE ' "$f.zones")
	if [ "$large" -lt "${large_live:-1}" ]; then
		echo "$large LARGE zones, but heap.c holds $large_live LARGE blocks"
		return 1
	fi
	info "$(basename "$f"): $n zones drawn ($(wc -l <"$f.live") with live blocks, $large LARGE), $req bytes requested"
	return 0
}

# report.html: self-contained, and the zone checks on the file as written.
html="$B/out.html"
if ! head -c 15 "$html" | grep -q '<!DOCTYPE html>'; then
	fail report.html "does not start with <!DOCTYPE html>"
elif ext=$(grep -oiE '<script|<link|<iframe|<img|@import|url\(|(src|href)=|https?://' "$html" | sort -u | tr '\n' ' ') && [ -n "$ext" ]; then
	fail report.html "not self-contained: $ext"
elif ! grep -q '<svg id="heap"' "$html" || ! grep -q '</html>' "$html"; then
	fail report.html "no <svg id=\"heap\"> or truncated page"
elif why=$(check_zones "$html"); then
	pass report.html
	echo "$why"
else
	fail report.html "$why"
fi

# The browser tests.
if [ ! -x "$CHROMIUM" ]; then
	info "SKIP report.dom, report.screenshot: $CHROMIUM not found (apt-get install chromium)"
	finish
fi

# chromium OUTFILE ARGS...: headless Chromium on the report, stdout to OUTFILE, stderr (with
# console messages) to OUTFILE.err; returns its exit status.
chromium() {
	local out=$1 rc profile
	shift
	profile=$(mktemp -d)
	timeout -k 5 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
		--no-first-run --disable-background-networking --disable-component-update \
		--disable-sync --user-data-dir="$profile" --enable-logging=stderr --v=0 \
		"$@" "file://$html" >"$out" 2>"$out.err" </dev/null
	rc=$?
	rm -rf "$profile"
	return $rc
}

dom="$B/dom.html"
chromium "$dom" --dump-dom
rc=$?
if [ $rc -ne 0 ]; then
	fail report.dom "chromium --dump-dom: $(reason $rc "$dom.err")"
elif errs=$(grep -E 'Uncaught|CONSOLE\([0-9]+\).*[Ee]rror' "$dom.err") && [ -n "$errs" ]; then
	fail report.dom "console errors: $(echo "$errs" | head -n 2)"
elif ! grep -q '<svg id="heap"' "$dom"; then
	fail report.dom "the DOM has no <svg id=\"heap\"> (see $dom)"
elif why=$(check_zones "$dom"); then
	pass report.dom
	echo "$why"
else
	fail report.dom "$why"
fi

png="$B/heap.png"
chromium "$B/screenshot.log" --hide-scrollbars --screenshot="$png" --window-size=1400,1000
rc=$?
if [ $rc -ne 0 ]; then
	fail report.screenshot "chromium --screenshot: $(reason $rc "$B/screenshot.log.err")"
elif [ ! -s "$png" ] || [ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" != 89504e470d0a1a0a ]; then
	fail report.screenshot "no PNG written to $png"
elif [ "$(stat -c %s "$png")" -lt 20000 ]; then
	fail report.screenshot "$png is only $(stat -c %s "$png") bytes: a blank page?"
else
	pass report.screenshot
	info "screenshot: $png"
fi
finish
