# Sourced by bench/run.sh and bench/scaling.sh: finds the comparison allocators.
#
# find_allocators sets ALLOCS (glibc, then each of jemalloc, mimalloc and tcmalloc that is
# installed and loads) and PRE (allocator -> library to preload; "" for glibc), and calls the
# caller's `note MESSAGE` for each one skipped. Libraries are looked for in $ALLOC_DIR first
# (when set), then in the compiler's multiarch directories and the usual ones.

find_lib() {  # first existing file among candidate names
    local n d multiarch
    multiarch=$(${CC:-gcc} -print-multiarch 2>/dev/null)
    for n in "$@"; do
        for d in ${ALLOC_DIR:+"$ALLOC_DIR"} ${multiarch:+/usr/lib/$multiarch /lib/$multiarch} \
            /usr/lib64 /usr/lib /usr/local/lib; do
            [ -e "$d/$n" ] && { echo "$d/$n"; return 0; }
        done
    done
    return 1
}

find_allocators() {
    local spec name lib
    ALLOCS=(glibc)
    declare -gA PRE=([glibc]="")
    for spec in "jemalloc:libjemalloc.so.2 libjemalloc.so" \
                "mimalloc:libmimalloc.so.2 libmimalloc.so.2.0 libmimalloc.so" \
                "tcmalloc:libtcmalloc_minimal.so.4 libtcmalloc.so.4 libtcmalloc_minimal.so"; do
        name=${spec%%:*}
        if ! lib=$(find_lib ${spec#*:}); then
            note "$name not found (looked for ${spec#*:}); skipped"
        elif ! env LD_PRELOAD="$lib" /bin/true 2>/dev/null; then
            note "$name ($lib) does not load; skipped"
        else
            ALLOCS+=("$name"); PRE[$name]=$lib
        fi
    done
}
