//! The heap report: one self-contained HTML page (no script, font or link to fetch) with the
//! heap's statistics and an SVG map of every zone, written without allocating from the heap it
//! describes.
//!
//! ```text
//!  <h1> title, process name and pid
//!  <table id="stats">   zones by kind, live blocks, bytes requested, bytes mapped, fragmentation
//!  legend               block colours, and the LARGE bars' log scale
//!  <svg id="heap">      one row per zone, by increasing address:
//!    <g class="zone" data-kind="TINY|SMALL|LARGE" data-addr="0x..." data-size=".."
//!       data-live="..">
//!      TINY/SMALL: a strip of the zone's blocks by address, coloured used / free / never used
//!      LARGE:      a bar whose length is the mapping's size (log scale), the requested part dark
//! ```
//! Every zone and every run of blocks has an SVG `<title>` (a tooltip: addresses, sizes, counts).
//! Consecutive blocks in the same state are drawn as one run; a zone with more blocks than the
//! strip has pixels is first cut into cells of several blocks, and a cell holding both used and
//! other blocks is drawn in one of four "mixed" shades (by its share of used blocks).
//!
//! The page is rendered into buffers mapped with `os::map` (never the heap), during one
//! `show::walk_zones` pass (so the statistics and the map describe the same moment), then
//! written with `write(2)`. Addresses are printed as `show_alloc_mem` prints them (`0x` and
//! upper-case digits), and the zones `show_alloc_mem` lists are exactly those drawn here with
//! `data-live` above 0; the map also draws zones that hold no live block.
//!
//! Reading other threads' zones follows `show`'s rules (atomics, `GEOMETRY`, `pool_lock` held);
//! the one extra field read, `Zone::extended` (which separates free from never-used blocks), is
//! owner-written and read as a snapshot: the picture of a zone another thread is changing may be
//! slightly stale, never unsafe.

use core::ptr;
use core::sync::atomic::Ordering;

use crate::large;
use crate::os;
use crate::show::{walk_zones, Sink, ZoneView};
use crate::size_class::GEOMETRY;
use crate::types::{Segment, PAGE_SIZE, SLICE_SHIFT, SLICE_SIZE, TINY_MAX};

/// Writes the report to the file `path` (created or truncated, mode 0644). True when the whole
/// page was written; false (errno set) when the file could not be opened or written, or a
/// buffer could not be mapped. Allocates nothing from the heap.
///
/// # Safety
/// `path` is null (rejected with EINVAL) or points to a NUL-terminated string.
pub unsafe fn write_report(path: *const u8) -> bool {
    if path.is_null() {
        os::set_errno(libc::EINVAL);
        return false;
    }
    let saved = os::get_errno();
    // SAFETY: path is a NUL-terminated string (the caller's promise).
    let fd = unsafe {
        os::open_file(
            path as *const libc::c_char,
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o644,
        )
    };
    if fd < 0 {
        return false;
    }
    let mut ok = false;
    if let Some(total) = render(fd) {
        // The file was empty and opened by us: its offset tells whether every byte went out
        // (os::write_all gives up silently on an error such as ENOSPC).
        // SAFETY: lseek on a descriptor we own.
        let at = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
        ok = at >= 0 && at as usize == total;
        if !ok && at >= 0 {
            os::set_errno(libc::EIO);
        }
    }
    // fd was opened above and is closed once.
    let closed = os::close_fd(fd);
    ok &= closed;
    if ok {
        os::set_errno(saved);
    }
    ok
}

/// Writes the report to the open descriptor `fd`. False when a buffer could not be mapped
/// (nothing is written then); write errors are not detected here (see `write_report`).
pub fn write_report_fd(fd: i32) -> bool {
    render(fd).is_some()
}

// ---------------------------------------------------------------------------------------------
// Buffers

/// A byte buffer in memory mapped with `os::map`, doubling (map, copy, unmap) as it fills.
/// Once a mapping fails it drops every later write and stays `failed`.
struct Buf {
    ptr: *mut u8,
    cap: usize,
    len: usize,
    failed: bool,
}

const BUF_MIN: usize = 64 << 10;

impl Buf {
    const fn new() -> Self {
        Buf {
            ptr: ptr::null_mut(),
            cap: 0,
            len: 0,
            failed: false,
        }
    }

    fn reserve(&mut self, n: usize) -> bool {
        if self.failed {
            return false;
        }
        if self.len + n <= self.cap {
            return true;
        }
        let mut cap = if self.cap == 0 { BUF_MIN } else { self.cap * 2 };
        while cap < self.len + n {
            cap *= 2;
        }
        let p = os::map(cap, 0);
        if p.is_null() {
            self.failed = true;
            return false;
        }
        if self.len > 0 {
            // SAFETY: both ranges are mappings of ours, at least len bytes long, and distinct.
            unsafe { ptr::copy_nonoverlapping(self.ptr, p, self.len) };
        }
        os::unmap(self.ptr, self.cap);
        self.ptr = p;
        self.cap = cap;
        true
    }

    #[inline(never)]
    fn s(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    /// A fixed-point number given in hundredths, e.g. `1234` as `12.34`.
    #[inline(never)]
    fn fx(&mut self, v100: usize) {
        self.dec(v100 / 100);
        let f = v100 % 100;
        if f != 0 {
            self.bytes(&[b'.', b'0' + (f / 10) as u8]);
            if !f.is_multiple_of(10) {
                self.bytes(&[b'0' + (f % 10) as u8]);
            }
        }
    }

    /// A size with a binary unit and one decimal: `640 B`, `1.5 KiB`, `64 MiB`.
    #[inline(never)]
    fn human(&mut self, v: usize) {
        const UNITS: [&str; 6] = [" B", " KiB", " MiB", " GiB", " TiB", " PiB"];
        let mut u = 0;
        while u + 1 < UNITS.len() && v >= 1usize << (10 * (u + 1)) {
            u += 1;
        }
        if u == 0 {
            self.dec(v);
        } else {
            let tenths = ((v as u128 * 10 + (1u128 << (10 * u - 1))) >> (10 * u)) as usize;
            self.dec(tenths / 10);
            if !tenths.is_multiple_of(10) {
                self.bytes(&[b'.', b'0' + (tenths % 10) as u8]);
            }
        }
        self.s(UNITS[u]);
    }

    /// Text with HTML's special characters escaped and control bytes shown as `?`.
    #[inline(never)]
    fn text(&mut self, s: &[u8]) {
        for &c in s {
            match c {
                b'&' => self.s("&amp;"),
                b'<' => self.s("&lt;"),
                b'>' => self.s("&gt;"),
                b'"' => self.s("&quot;"),
                0..=31 | 127 => self.s("?"),
                _ => self.bytes(&[c]),
            }
        }
    }

    fn as_slice(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the first len bytes of the mapping were written.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Sink for Buf {
    #[inline(never)]
    fn bytes(&mut self, s: &[u8]) {
        if self.reserve(s.len()) {
            // SAFETY: reserve made room for s.len() bytes after len; s is not in our mapping.
            unsafe { ptr::copy_nonoverlapping(s.as_ptr(), self.ptr.add(self.len), s.len()) };
            self.len += s.len();
        }
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        os::unmap(self.ptr, self.cap);
    }
}

// ---------------------------------------------------------------------------------------------
// Layout (SVG user units = CSS pixels)

/// Height of the column-heading row at the top of the map.
const TOP: usize = 24;
/// Pitch of the zone rows.
const ROW_H: usize = 16;
/// Strip (or bar) top and height inside a row.
const STRIP_Y: usize = 2;
const STRIP_H: usize = 12;
/// Baseline of a row's text.
const TEXT_Y: usize = 12;
const STRIP_X: usize = 300;
const STRIP_W: usize = 900;
const COUNT_X: usize = STRIP_X + STRIP_W + 10;
const SVG_W: usize = COUNT_X + 110;
/// LARGE bars' log scale starts at one page (an over-aligned LARGE block can be that small).
const LOG_LO: usize = 12;

const KIND_NAMES: [&str; 3] = ["TINY", "SMALL", "LARGE"];
const TINY: usize = 0;
const SMALL: usize = 1;
const LARGE: usize = 2;

/// State of a run of blocks (the rects' CSS classes).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Run {
    Used,
    Free,
    Never,
    /// Used and other blocks in one cell: shade 0..=3 by the used share (under 1/4 .. under 1).
    Mixed(u8),
}

impl Run {
    fn class(self) -> &'static str {
        match self {
            Run::Used => "u",
            Run::Free => "f",
            Run::Never => "n",
            Run::Mixed(0) => "m0",
            Run::Mixed(1) => "m1",
            Run::Mixed(2) => "m2",
            Run::Mixed(_) => "m3",
        }
    }
}

/// Block counts of a cell or run.
#[derive(Clone, Copy, Default)]
struct Counts {
    used: usize,
    free: usize,
    never: usize,
    requested: usize,
}

impl Counts {
    fn blocks(&self) -> usize {
        self.used + self.free + self.never
    }
    fn add(&mut self, o: &Counts) {
        self.used += o.used;
        self.free += o.free;
        self.never += o.never;
        self.requested += o.requested;
    }
    fn state(&self) -> Run {
        if self.used == 0 {
            if self.free == 0 {
                Run::Never
            } else {
                Run::Free
            }
        } else if self.used == self.blocks() {
            Run::Used
        } else {
            Run::Mixed((self.used * 4 / self.blocks()).min(3) as u8)
        }
    }
}

/// What the page's statistics block shows.
#[derive(Default)]
struct Stats {
    zones: [usize; 3],
    live_zones: [usize; 3],
    blocks: Counts,
    mapped: usize,
    rows: usize,
}

// ---------------------------------------------------------------------------------------------
// Rendering

/// Renders the page and writes it to `fd`; the number of bytes written, or None (nothing
/// written) when a buffer could not be mapped.
fn render(fd: i32) -> Option<usize> {
    // The LARGE scale's top, from the largest mapping (a block appearing later is clamped).
    let mut max_len = 0;
    large::for_each(|b| max_len = max_len.max(b.len));
    let log_hi = {
        let mut hi = ceil_log2(max_len).max(22);
        hi += hi & 1;
        hi
    };

    // One snapshot of a zone's `requested` array at a time (u16 entries, at most 65535).
    let scratch_len = (u16::MAX as usize + 1) * 2;
    let scratch = os::map(scratch_len, 0) as *mut u16;
    if scratch.is_null() {
        return None;
    }

    let mut body = Buf::new();
    let mut st = Stats::default();
    walk_zones(|z| {
        let y = TOP + st.rows * ROW_H;
        st.rows += 1;
        match z {
            ZoneView::Small { seg, first, class } => {
                small_zone(&mut body, &mut st, scratch, y, seg, first, class)
            }
            ZoneView::Large { addr, requested } => {
                large_zone(&mut body, &mut st, y, addr, requested, log_hi)
            }
        }
    });
    os::unmap(scratch as *mut u8, scratch_len);
    if st.rows == 0 {
        body.s("<text x=\"4\" y=\"");
        body.dec(TOP + TEXT_Y);
        body.s("\">no zones: nothing is allocated</text>\n");
    }
    body.s("</svg>\n</body>\n</html>\n");

    let mut head = Buf::new();
    page_head(&mut head, &st, max_len, log_hi);
    let height = TOP + st.rows.max(1) * ROW_H + 4;
    head.s("<svg id=\"heap\" role=\"img\" aria-label=\"heap map\" width=\"");
    head.dec(SVG_W);
    head.s("\" height=\"");
    head.dec(height);
    head.s("\" viewBox=\"0 0 ");
    head.dec(SVG_W);
    head.s(" ");
    head.dec(height);
    head.s("\">\n<text class=\"h\" x=\"4\" y=\"16\">zone: kind, address, block size \u{d7} blocks</text><text class=\"h\" x=\"");
    head.dec(STRIP_X);
    head.s("\" y=\"16\">blocks by address \u{2192} (LARGE: mapping size, log scale)</text><text class=\"h\" x=\"");
    head.dec(COUNT_X);
    head.s("\" y=\"16\">in use</text>\n");

    if head.failed || body.failed {
        return None;
    }
    os::write_all(fd, head.as_slice());
    os::write_all(fd, body.as_slice());
    Some(head.len + body.len)
}

/// The document up to the map: title, statistics, legend.
#[inline(never)]
fn page_head(b: &mut Buf, st: &Stats, max_len: usize, log_hi: usize) {
    let mut cmd = [0u8; 160];
    let n = read_cmdline(&mut cmd);
    let cmd = &cmd[..n];
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as usize;

    b.s("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>ft_malloc heap map \u{2014} ");
    b.text(cmd);
    b.s(" (pid ");
    b.dec(pid);
    b.s(")</title>\n<style>\n");
    b.s(CSS);
    b.s("</style>\n</head>\n<body>\n<h1>ft_malloc heap map</h1>\n<p class=\"sub\">process <b>");
    b.text(cmd);
    b.s("</b> (pid ");
    b.dec(pid);
    b.s(")</p>\n<table id=\"stats\">\n");

    let total_zones = st.zones[0] + st.zones[1] + st.zones[2];
    let live_zones = st.live_zones[0] + st.live_zones[1] + st.live_zones[2];
    b.s("<tr><th>zones</th><td id=\"zones\" data-value=\"");
    b.dec(total_zones);
    b.s("\">");
    b.dec(total_zones);
    b.s("</td><td>");
    for k in 0..3 {
        if k > 0 {
            b.s(", ");
        }
        b.s("<span id=\"zones-");
        b.s(KIND_LOWER[k]);
        b.s("\" data-value=\"");
        b.dec(st.zones[k]);
        b.s("\">");
        b.s(KIND_NAMES[k]);
        b.s(" ");
        b.dec(st.zones[k]);
        b.s("</span>");
    }
    b.s("</td></tr>\n<tr><th>zones holding a live block</th><td id=\"live-zones\" data-value=\"");
    b.dec(live_zones);
    b.s("\">");
    b.dec(live_zones);
    b.s("</td><td>the zones <code>show_alloc_mem</code> lists</td></tr>\n");

    b.s("<tr><th>live blocks</th><td id=\"live-blocks\" data-value=\"");
    b.dec(st.blocks.used);
    b.s("\">");
    b.dec(st.blocks.used);
    b.s("</td><td>TINY and SMALL zones also hold ");
    b.dec(st.blocks.free);
    b.s(" free and ");
    b.dec(st.blocks.never);
    b.s(" never-used blocks</td></tr>\n");

    stat_bytes(
        b,
        "bytes requested",
        "requested",
        st.blocks.requested,
        "sum of the live blocks' requested sizes (<code>show_alloc_mem</code>'s Total)",
    );
    stat_bytes(
        b,
        "bytes mapped",
        "mapped",
        st.mapped,
        "TINY and SMALL zones' sizes plus LARGE mappings' lengths",
    );

    b.s("<tr><th>fragmentation</th><td id=\"fragmentation\" data-value=\"");
    if st.mapped == 0 {
        b.s("\">n/a</td>");
    } else {
        // 1 - requested / mapped, in hundredths of a percent.
        let used = (st.blocks.requested as u128 * 10000 / st.mapped as u128) as usize;
        let frag = 10000 - used.min(10000);
        b.fx(frag);
        b.s("\">");
        b.fx(frag);
        b.s(" %</td>");
    }
    b.s("<td>1 \u{2212} requested / mapped</td></tr>\n</table>\n");

    // Legend: colour keys, then the LARGE scale.
    b.s("<div class=\"legend\">\n");
    for (class, what) in LEGEND {
        b.s("<span><svg width=\"14\" height=\"14\"><rect class=\"");
        b.s(class);
        b.s("\" x=\"0\" y=\"0\" width=\"14\" height=\"14\"/></svg>");
        b.s(what);
        b.s("</span>\n");
    }
    b.s(
        "</div>\n<p class=\"note\">Hover a zone or a run of blocks for its addresses and sizes. \
         A zone with more blocks than the strip has pixels is drawn in cells of several blocks; \
         a cell holding used and other blocks is drawn in a mixed shade (darker: more used).</p>\n",
    );
    if max_len > 0 {
        b.s("<svg class=\"axis\" width=\"");
        b.dec(SVG_W);
        b.s(
            "\" height=\"30\"><text class=\"h\" x=\"4\" y=\"12\">LARGE bar length</text>\
             <text class=\"h\" x=\"4\" y=\"26\">(mapping size, log scale)</text><line x1=\"",
        );
        b.dec(STRIP_X);
        b.s("\" y1=\"4\" x2=\"");
        b.dec(STRIP_X + STRIP_W);
        b.s("\" y2=\"4\"/>");
        let mut p = LOG_LO;
        while p <= log_hi {
            let x100 = STRIP_X * 100 + STRIP_W * 100 * (p - LOG_LO) / (log_hi - LOG_LO);
            b.s("<line x1=\"");
            b.fx(x100);
            b.s("\" y1=\"0\" x2=\"");
            b.fx(x100);
            b.s("\" y2=\"9\"/><text x=\"");
            b.fx(x100);
            b.s("\" y=\"22\" text-anchor=\"middle\">");
            b.human(1usize << p);
            b.s("</text>");
            p += 2;
        }
        b.s("</svg>\n");
    }
}

const KIND_LOWER: [&str; 3] = ["tiny", "small", "large"];

const LEGEND: [(&str, &str); 7] = [
    ("u", "used block"),
    ("f", "free block"),
    ("n", "never handed out"),
    ("m1", "mixed cell"),
    ("lm", "LARGE mapping"),
    ("lu", "LARGE: requested part"),
    ("bg", "zone outline"),
];

const CSS: &str = "body{font:14px system-ui,sans-serif;margin:16px;color:#222;background:#fff}\n\
h1{font-size:20px;margin:0 0 2px}\n\
.sub{margin:0 0 8px;color:#555}\n\
#stats{border-collapse:collapse;margin:4px 0 8px}\n\
#stats th{text-align:left;font-weight:600;padding:1px 14px 1px 0}\n\
#stats td{padding:1px 14px 1px 0}\n\
#stats td:nth-child(2){font-family:monospace;text-align:right}\n\
#stats td:nth-child(3){color:#666;font-size:12px}\n\
.legend{display:flex;gap:16px;flex-wrap:wrap;font-size:12px;margin:4px 0}\n\
.legend span{display:inline-flex;align-items:center;gap:4px}\n\
.note{font-size:12px;color:#666;margin:4px 0}\n\
svg text{font:11px monospace;fill:#222}\n\
svg text.h{fill:#666}\n\
svg.axis line{stroke:#666;stroke-width:1}\n\
rect{shape-rendering:crispEdges}\n\
.u,.lu{fill:#e4572e}\n.f{fill:#76b041}\n.n{fill:#e6e6e6}\n\
.m0{fill:#84a53f}\n.m1{fill:#9f8f3a}\n.m2{fill:#bb7835}\n.m3{fill:#d66230}\n\
.lm{fill:#f6c9bb}\n\
.bg{fill:none;stroke:#888;stroke-width:1}\n\
g.zone:hover .bg{stroke:#000;stroke-width:2}\n\
g.zone:hover text{font-weight:bold}\n";

#[inline(never)]
fn stat_bytes(b: &mut Buf, label: &str, id: &str, v: usize, note: &str) {
    b.s("<tr><th>");
    b.s(label);
    b.s("</th><td id=\"");
    b.s(id);
    b.s("\" data-value=\"");
    b.dec(v);
    b.s("\">");
    b.dec(v);
    b.s(" (");
    b.human(v);
    b.s(")</td><td>");
    b.s(note);
    b.s("</td></tr>\n");
}

/// The opening of a zone's group and its tooltip's start.
#[inline(never)]
fn zone_open(b: &mut Buf, kind: usize, addr: usize, size: usize, live: usize, y: usize) {
    b.s("<g class=\"zone\" data-kind=\"");
    b.s(KIND_NAMES[kind]);
    b.s("\" data-addr=\"");
    b.hex(addr);
    b.s("\" data-size=\"");
    b.dec(size);
    b.s("\" data-live=\"");
    b.dec(live);
    b.s("\" transform=\"translate(0,");
    b.dec(y);
    b.s(")\"><title>");
    b.s(KIND_NAMES[kind]);
    b.s(" zone ");
    b.hex(addr);
    b.s(" - ");
    b.hex(addr + size);
    b.s(" (");
    b.dec(size);
    b.s(" bytes)");
}

#[inline(never)]
fn rect(b: &mut Buf, class: &str, x100: usize, w100: usize) {
    b.s("<rect class=\"");
    b.s(class);
    b.s("\" x=\"");
    b.fx(x100);
    b.s("\" y=\"");
    b.dec(STRIP_Y);
    b.s("\" width=\"");
    b.fx(w100.max(1));
    b.s("\" height=\"");
    b.dec(STRIP_H);
    b.s("\"");
}

/// One TINY or SMALL zone: a strip of its blocks.
#[inline(never)]
fn small_zone(
    b: &mut Buf,
    st: &mut Stats,
    snap: *mut u16,
    y: usize,
    seg: *mut Segment,
    first: usize,
    class: usize,
) {
    let g = &GEOMETRY[class];
    let start = seg as usize + (first << SLICE_SHIFT);
    let size = g.slices * SLICE_SIZE;
    let n = g.nblocks;
    let kind = if g.bsize <= TINY_MAX { TINY } else { SMALL };
    // SAFETY: the descriptor lies in the segment's header, which pool_lock (held by walk_zones)
    // keeps mapped; the field is owner-written, so this is a snapshot that may be stale.
    let extended =
        unsafe { ptr::read_volatile(ptr::addr_of!((*Segment::zone(seg, first)).extended)) };
    let extended = (extended as usize).min(n);

    // Snapshot the requested array, so the counts and the drawing agree.
    let requested = crate::segment::requested_array(
        seg,
        first,
        // SAFETY: the header is mapped while pool_lock is held.
        unsafe { (*seg).slice_entry(first).load(Ordering::Acquire) } as usize,
    );
    let mut zc = Counts::default();
    for k in 0..n {
        // SAFETY: the zone's requested array (nblocks entries, at its start or beside its
        // descriptor: requested_array) lies in the segment, which pool_lock keeps mapped; snap
        // holds 65536 entries and n <= 65535.
        let v = unsafe {
            let v = (*requested.add(k)).load(Ordering::Relaxed);
            *snap.add(k) = v;
            v as usize
        };
        if v != 0 {
            zc.used += 1;
            zc.requested += crate::types::entry_request(v);
        } else if k < extended {
            zc.free += 1;
        } else {
            zc.never += 1;
        }
    }
    st.zones[kind] += 1;
    if zc.used > 0 {
        st.live_zones[kind] += 1;
    }
    st.blocks.add(&zc);
    st.mapped += size;

    zone_open(b, kind, start, size, zc.used, y);
    b.s(": ");
    b.dec(n);
    b.s(" blocks of ");
    b.dec(g.bsize);
    b.s(" bytes from ");
    b.hex(start + g.blocks_offset);
    b.s("; ");
    counts_text(b, &zc);
    b.s("</title><text x=\"4\" y=\"");
    b.dec(TEXT_Y);
    b.s("\">");
    b.s(KIND_NAMES[kind]);
    b.s(if kind == TINY { "  " } else { " " });
    b.hex(start);
    b.s(" ");
    b.dec(g.bsize);
    b.s(" B \u{d7} ");
    b.dec(n);
    b.s("</text>");

    // Cells of `cell` blocks (1 when the strip has a pixel per block), merged into runs.
    let cell = n.div_ceil(STRIP_W);
    let block_addr = |k: usize| start + g.blocks_offset + k * g.bsize;
    let x_of = |k: usize| STRIP_X * 100 + k * STRIP_W * 100 / n;
    let mut run_start = 0;
    let mut run = Counts::default();
    let mut run_state = Run::Never;
    let mut k = 0;
    while k < n {
        let end = (k + cell).min(n);
        let mut c = Counts::default();
        for i in k..end {
            // SAFETY: i < n <= 65535, written above.
            let v = unsafe { *snap.add(i) } as usize;
            if v != 0 {
                c.used += 1;
                c.requested += crate::types::entry_request(v);
            } else if i < extended {
                c.free += 1;
            } else {
                c.never += 1;
            }
        }
        // A run takes cells of its own state only, so its totals have that state too.
        let s = c.state();
        if run.blocks() > 0 && s != run_state {
            run_rect(b, &run, run_start, k, &x_of, &block_addr);
            run_start = k;
            run = Counts::default();
        }
        run_state = s;
        run.add(&c);
        k = end;
    }
    if run.blocks() > 0 {
        run_rect(b, &run, run_start, n, &x_of, &block_addr);
    }

    b.s("<rect class=\"bg\" x=\"");
    b.dec(STRIP_X);
    b.s("\" y=\"");
    b.dec(STRIP_Y);
    b.s("\" width=\"");
    b.dec(STRIP_W);
    b.s("\" height=\"");
    b.dec(STRIP_H);
    b.s("\"/><text x=\"");
    b.dec(COUNT_X);
    b.s("\" y=\"");
    b.dec(TEXT_Y);
    b.s("\">");
    b.dec(zc.used);
    b.s("/");
    b.dec(n);
    b.s("</text></g>\n");
}

/// One run of blocks `[k0, k1)`.
#[inline(never)]
fn run_rect(
    b: &mut Buf,
    run: &Counts,
    k0: usize,
    k1: usize,
    x_of: &impl Fn(usize) -> usize,
    block_addr: &impl Fn(usize) -> usize,
) {
    let x0 = x_of(k0);
    rect(b, run.state().class(), x0, x_of(k1) - x0);
    b.s("><title>");
    b.hex(block_addr(k0));
    b.s(" - ");
    b.hex(block_addr(k1));
    b.s(": ");
    if run.blocks() == 1 {
        if run.used == 1 {
            b.s("used block, ");
            b.dec(run.requested);
            b.s(" bytes requested");
        } else if run.free == 1 {
            b.s("free block");
        } else {
            b.s("never-used block");
        }
    } else {
        counts_text(b, run);
    }
    b.s("</title></rect>");
}

/// "N blocks: u used (r bytes requested), f free, v never used" without the zero parts.
#[inline(never)]
fn counts_text(b: &mut Buf, c: &Counts) {
    b.dec(c.blocks());
    b.s(" blocks: ");
    if c.used > 0 {
        b.dec(c.used);
        b.s(" used (");
        b.dec(c.requested);
        b.s(" bytes requested)");
    }
    let mut sep = c.used > 0;
    for (n, label) in [(c.free, " free"), (c.never, " never used")] {
        if n > 0 {
            if sep {
                b.s(", ");
            }
            b.dec(n);
            b.s(label);
            sep = true;
        }
    }
}

/// One LARGE block: a bar as long as its mapping (log scale), the requested share dark.
#[inline(never)]
fn large_zone(b: &mut Buf, st: &mut Stats, y: usize, addr: usize, requested: usize, log_hi: usize) {
    let len = large::lookup(addr).map_or_else(
        || requested.max(1).div_ceil(PAGE_SIZE) * PAGE_SIZE,
        |e| e.len,
    );
    st.zones[LARGE] += 1;
    st.live_zones[LARGE] += 1;
    st.blocks.used += 1;
    st.blocks.requested += requested;
    st.mapped += len;

    zone_open(b, LARGE, addr, len, 1, y);
    b.s(": one block, ");
    b.dec(requested);
    b.s(" bytes requested (");
    b.human(requested);
    b.s("), ");
    b.dec(len);
    b.s(" bytes mapped (");
    b.human(len);
    b.s(")</title><text x=\"4\" y=\"");
    b.dec(TEXT_Y);
    b.s("\">LARGE ");
    b.hex(addr);
    b.s(" ");
    b.human(len);
    b.s("</text>");

    let lo = LOG_LO << 10;
    let hi = log_hi << 10;
    let l = log2_1024(len).clamp(lo, hi);
    let w100 = (STRIP_W * 100 * (l - lo) / (hi - lo)).max(200);
    rect(b, "lm", STRIP_X * 100, w100);
    b.s("/>");
    let used = (w100 as u128 * requested.min(len) as u128 / len as u128) as usize;
    rect(b, "lu", STRIP_X * 100, used);
    b.s("/><text x=\"");
    b.dec(COUNT_X);
    b.s("\" y=\"");
    b.dec(TEXT_Y);
    b.s("\">");
    b.human(requested);
    b.s("</text></g>\n");
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// `ceil(log2(x))`, 0 for `x <= 1`.
fn ceil_log2(x: usize) -> usize {
    if x <= 1 {
        0
    } else {
        (usize::BITS - (x - 1).leading_zeros()) as usize
    }
}

/// `log2(x)` in 1/1024 units (`x >= 1`), by repeated squaring of the mantissa.
fn log2_1024(x: usize) -> usize {
    let x = x.max(1);
    let int = (usize::BITS - 1 - x.leading_zeros()) as usize;
    // Mantissa in [1, 2) as a 1.31 fixed-point number.
    let mut m: u64 = if int <= 31 {
        (x as u64) << (31 - int)
    } else {
        (x as u64) >> (int - 31)
    };
    let mut frac = 0;
    for i in 0..10 {
        m = (m * m) >> 31;
        if m >= 2 << 31 {
            m >>= 1;
            frac |= 1 << (9 - i);
        }
    }
    (int << 10) | frac
}

/// The process's command line (arguments joined by spaces), as much as fits in `out`.
fn read_cmdline(out: &mut [u8]) -> usize {
    // SAFETY: a NUL-terminated literal path.
    let fd = unsafe {
        os::open_file(
            c"/proc/self/cmdline".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return 0;
    }
    let r = os::read_fd(fd, out);
    os::close_fd(fd);
    if r <= 0 {
        return 0;
    }
    let mut n = r as usize;
    for c in out[..n].iter_mut() {
        if *c == 0 {
            *c = b' ';
        }
    }
    while n > 0 && out[n - 1] == b' ' {
        n -= 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_is_close() {
        for &(x, want) in &[
            (1usize, 0usize),
            (2, 1024),
            (4096, 12 << 10),
            (1 << 40, 40 << 10),
        ] {
            assert_eq!(log2_1024(x), want);
        }
        // log2(3) = 1.58496 -> 1623.0
        assert!((1621..=1624).contains(&log2_1024(3)));
        assert_eq!(ceil_log2(4096), 12);
        assert_eq!(ceil_log2(4097), 13);
    }

    #[test]
    fn numbers_format() {
        let mut b = Buf::new();
        b.human(640);
        b.s("|");
        b.human(1536);
        b.s("|");
        b.human(64 << 20);
        b.s("|");
        b.fx(1234);
        b.s("|");
        b.fx(1200);
        b.s("|");
        b.fx(7);
        b.s("|");
        b.hex(0xA0020);
        b.s("|");
        b.text(b"a<b&\"c\"");
        assert_eq!(
            b.as_slice(),
            b"640 B|1.5 KiB|64 MiB|12.34|12|0.07|0xA0020|a&lt;b&amp;&quot;c&quot;"
        );
    }
}
