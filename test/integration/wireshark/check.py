#!/usr/bin/env python3
"""Checks tools/wireshark/yamux.lua against a capture of real yamux sessions.

The capture's TCP payload is decoded here, independently of Wireshark (pcap
records, Ethernet/SLL/loopback, IPv4/IPv6, TCP reassembled by sequence
number), into yamux frames; optionally the bytes are also compared with the
transport traces the Go peer wrote (interop/bin/go-peer --trace PREFIX:
PREFIX.N.tx is what it sent, PREFIX.N.rx what it received). Then tshark runs
the dissector on the capture (with the port preference, with Decode As,
and in two passes) and every frame it shows must match the decoded frame in the same
place, field for field: version, type, flags, stream id, length, the field
the type gives the length (window delta, reset code, ping id, Go Away code),
the send window before each Data frame, the expert infos the rules below
predict, and each Data body (length and Adler-32 as test/integration/wireshark/body-check.lua,
a heuristic sub-dissector, reports them).

    check.py --pcap F [--lua DISSECTOR] [--port P]
             [--trace PREFIX:server|client ...]
             [--require yamux.bad_version=1,...] [--min-frames N]

Exit status 0 when everything matches; 1 with the first differences on
stderr.
"""

import argparse
import gzip
import os
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib

INITIAL_WINDOW = 262144
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def fail(msg):
    print("wireshark check: " + msg, file=sys.stderr)
    sys.exit(1)


# ---- pcap ------------------------------------------------------------------


def read_pcap(path):
    """Yields (linktype, packet bytes) for each record."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        fail(path + ": not a pcap file (pcapng is not read here)")
    linktype = struct.unpack(end + "I", data[20:24])[0] & 0x0FFFFFFF
    off = 24
    while off + 16 <= len(data):
        incl, orig = struct.unpack(end + "II", data[off + 8:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        if incl != orig:
            fail("a packet was cut by the snap length: capture with -s 0")
        yield linktype, pkt
        off += 16 + incl


def ip_payload(linktype, pkt):
    """Returns (src, dst, proto, payload) or None."""
    if linktype == 1:  # Ethernet
        etype = struct.unpack(">H", pkt[12:14])[0]
        off = 14
        while etype == 0x8100:
            etype = struct.unpack(">H", pkt[off + 2:off + 4])[0]
            off += 4
    elif linktype == 113:  # Linux cooked
        etype = struct.unpack(">H", pkt[14:16])[0]
        off = 16
    elif linktype == 276:  # Linux cooked v2
        etype = struct.unpack(">H", pkt[0:2])[0]
        off = 20
    elif linktype == 0:  # BSD loopback
        fam = struct.unpack("<I", pkt[0:4])[0]
        etype = 0x0800 if fam == 2 else 0x86DD
        off = 4
    else:
        fail("link type %d not read here" % linktype)
    if etype == 0x0800:
        ihl = (pkt[off] & 0x0F) * 4
        total = struct.unpack(">H", pkt[off + 2:off + 4])[0]
        return (pkt[off + 12:off + 16], pkt[off + 16:off + 20], pkt[off + 9],
                pkt[off + ihl:off + total])
    if etype == 0x86DD:
        plen = struct.unpack(">H", pkt[off + 4:off + 6])[0]
        return (pkt[off + 8:off + 24], pkt[off + 24:off + 40], pkt[off + 6],
                pkt[off + 40:off + 40 + plen])
    return None


class Conn:
    def __init__(self, index, client, server):
        self.index = index
        self.client = client  # (addr, port)
        self.server = server
        self.isn = {}
        self.segs = {"c2s": {}, "s2c": {}}
        self.fin = {}
        self.rst = False

    def stream(self, d):
        """The direction's bytes, reassembled (fails on a hole), and for
        each byte range the capture frame number that carried it first:
        [(end offset, frame number)]."""
        src = self.client if d == "c2s" else self.server
        if src not in self.isn:
            return b"", []
        isn = self.isn[src]
        out = bytearray()
        where = []
        segs = sorted(((seq - isn - 1) % (1 << 32), p, n)
                      for seq, (p, n) in self.segs[d].items())
        for rel, payload, frame_no in segs:
            if rel > len(out):
                fail("connection %d: %d bytes missing from the capture (%s)" %
                     (self.index, rel - len(out), d))
            if rel + len(payload) > len(out):
                where.append((rel + len(payload), frame_no))
                out[rel:rel + len(payload)] = payload
        # Nothing lost at the end either: the FIN comes right after the
        # last byte (unless the connection was reset).
        if src in self.fin:
            fin = (self.fin[src] - isn - 1) % (1 << 32)
            if fin != len(out):
                fail("connection %d %s: FIN after byte %d, the capture has %d"
                     % (self.index, d, fin, len(out)))
        elif not self.rst:
            fail("connection %d %s: neither FIN nor RST in the capture" %
                 (self.index, d))
        return bytes(out), where


def tcp_connections(path, port):
    conns = []
    by_key = {}
    frame_no = 0
    for linktype, pkt in read_pcap(path):
        frame_no += 1
        ip = ip_payload(linktype, pkt)
        if ip is None or ip[2] != 6:
            continue
        src, dst, _, tcp = ip
        sport, dport, seq = struct.unpack(">HHI", tcp[0:8])
        flags = tcp[13]
        payload = tcp[(tcp[12] >> 4) * 4:]
        a, b = (src, sport), (dst, dport)
        if port is None and flags & 0x12 == 0x02:
            port = dport
        if port not in (sport, dport):
            continue
        key = frozenset((a, b))
        conn = by_key.get(key)
        if conn is None or (flags & 0x12 == 0x02 and a in conn.isn):
            # A new connection (its first SYN, or a reused port pair).
            if flags & 0x02 == 0:
                continue  # began before the capture
            client, server = (a, b) if dport == port else (b, a)
            conn = Conn(len(conns), client, server)
            conns.append(conn)
            by_key[key] = conn
        if flags & 0x02:
            conn.isn[a] = seq
        if flags & 0x04:
            conn.rst = True
        if flags & 0x01:
            conn.fin[a] = (seq + len(payload)) % (1 << 32)
        if payload:
            d = "c2s" if a == conn.client else "s2c"
            if seq not in conn.segs[d]:
                conn.segs[d][seq] = (payload, frame_no)
    # Refused connects (a client retrying until the server listens) are no
    # connections.
    conns = [c for c in conns if len(c.isn) == 2]
    for i, c in enumerate(conns):
        c.index = i
    return port, conns


# ---- yamux frames, decoded here ---------------------------------------------


class Frame:
    def __init__(self, hdr, body):
        self.version, self.type, self.flags, self.sid, self.length = \
            struct.unpack(">BBHII", hdr)
        self.body = body
        self.window = None  # send window before a tracked Data frame
        self.experts = set()

    def desc(self):
        return "v%d type %d flags 0x%04x sid %d len %d" % (
            self.version, self.type, self.flags, self.sid, self.length)


def decode_frames(data, where):
    """Complete frames of a byte stream, each with the capture frame number
    that completes it, and the count of trailing bytes that make none."""
    frames = []
    off = 0
    w = 0
    while len(data) - off >= 12:
        hdr = data[off:off + 12]
        n = 12
        if hdr[0] == 0 and hdr[1] == 0:
            n += struct.unpack(">I", hdr[8:12])[0]
        if len(data) - off < n:
            break
        f = Frame(hdr, data[off + 12:off + n])
        off += n
        while where[w][0] < off:
            w += 1
        f.frame_no = where[w][1]
        frames.append(f)
    return frames, len(data) - off


def apply_rules(frames_in_order, initial):
    """Window accounting and the expected expert infos. frames_in_order is
    [(direction, frame)] of one connection in capture order, the order in
    which the dissector's first pass meets them."""
    streams = {}
    for d, f in frames_in_order:
        other = "s2c" if d == "c2s" else "c2s"
        if f.version != 0:
            f.experts.add("yamux.bad_version")
            continue
        if f.type > 3:
            f.experts.add("yamux.bad_type")
            continue
        if f.type == 3 and f.length != 0:
            f.experts.add("yamux.goaway_error")
        if f.sid == 0:
            continue
        st = streams.get(f.sid)
        # A SYN on an id never seen, untracked or closed (re)starts it.
        if f.flags & 1 and f.type in (0, 1) and (
                not st or st["reset"] or len(st["fin"]) == 2):
            st = {"c2s": initial, "s2c": initial, "reset": False,
                  "fin": set()}
            streams[f.sid] = st
        if st is None:
            streams[f.sid] = False  # opened before the capture began
            continue
        if st is False or st["reset"]:
            continue
        if f.type == 0:
            f.window = st[d]
            if f.length > st[d]:
                f.experts.add("yamux.over_window")
                st[d] = 0
            else:
                st[d] -= f.length
        elif f.type == 1 and not f.flags & 8:
            st[other] += f.length
            if st[other] > 0xFFFFFFFF:
                f.experts.add("yamux.window_overflow")
                st[other] = 0xFFFFFFFF
        if f.flags & 8:
            st["reset"] = True
        if f.flags & 4:
            st["fin"].add(d)


# ---- tshark -----------------------------------------------------------------


class Shown:
    """One yamux frame as tshark showed it."""

    def __init__(self, frame_no, proto):
        self.frame_no = frame_no
        self.fields = {}
        self.experts = set()
        self.body = None  # (length, adler32) from the body-check dissector
        self._walk(proto)

    def _walk(self, el):
        for sub in el.findall("field"):
            name = sub.get("name")
            if name == "_ws.expert":
                for e in sub.findall("field"):
                    if e.get("name", "").startswith("yamux."):
                        self.experts.add(e.get("name"))
                continue
            if name.startswith("yamux.") and name not in self.fields:
                self.fields[name] = sub.get("show")
            self._walk(sub)

    def num(self, name):
        v = self.fields.get(name)
        if v is None:
            return None
        return int(v, 0)


def run_tshark(lua, pcap, port, how):
    body = os.path.join(HERE, "body-check.lua")
    args = [os.environ.get("TSHARK", "tshark"), "-n", "-r", pcap,
            "-X", "lua_script:" + lua, "-X", "lua_script:" + body,
            "-o", "tcp.desegment_tcp_streams:TRUE",
            "-o", "tcp.reassemble_out_of_order:TRUE", "-T", "pdml"]
    if how == "decode-as":
        args += ["-d", "tcp.port==%d,yamux" % port]
    else:
        args += ["-o", "yamux.tcp_port:%d" % port]
    if how == "two-pass":
        # The second pass must show what the first one worked out.
        args += ["-2"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    shown = {}  # tcp.stream -> {srcport: [Shown]}
    for _, el in ET.iterparse(p.stdout, events=("end",)):
        if el.tag != "packet":
            continue
        frame_no = None
        stream = sport = None
        last = None
        for proto in el.findall("proto"):
            name = proto.get("name")
            if name == "geninfo":
                for f in proto.findall("field"):
                    if f.get("name") == "num":
                        frame_no = int(f.get("show"))
            elif name == "tcp":
                for f in proto.iter("field"):
                    if f.get("name") == "tcp.stream":
                        stream = int(f.get("show"))
                    elif f.get("name") == "tcp.srcport":
                        sport = int(f.get("show"))
            elif name == "yamux":
                last = Shown(frame_no, proto)
                shown.setdefault(stream, {}).setdefault(sport, []).append(last)
            elif name == "yxbody":
                vals = {f.get("name"): f.get("show")
                        for f in proto.findall("field")}
                if last is None or last.body is not None:
                    fail("frame %d: a body without its yamux frame" % frame_no)
                last.body = (int(vals["yxbody.len"]),
                             int(vals["yxbody.adler32"], 16))
        el.clear()
    err = p.stderr.read().decode(errors="replace")
    if p.wait() != 0:
        fail("tshark failed: " + err.strip())
    for line in err.splitlines():
        if "Lua" in line or "rror" in line:
            fail("tshark: " + line)
    return shown


def expected_fields(f):
    e = {"yamux.version": f.version, "yamux.type": f.type,
         "yamux.flags": f.flags, "yamux.stream_id": f.sid,
         "yamux.length": f.length}
    if f.version != 0 or f.type > 3:
        return e
    if f.type == 0:
        if f.window is not None:
            e["yamux.window"] = f.window
    elif f.type == 1:
        e["yamux.reset_code" if f.flags & 8 else "yamux.window_delta"] = \
            f.length
    elif f.type == 2:
        e["yamux.ping_id"] = f.length
    else:
        e["yamux.goaway_code"] = f.length
    return e


def compare(conn, d, frames, shown, errors):
    if len(shown) != len(frames):
        errors.append("connection %d %s: tshark shows %d frames, the capture "
                      "holds %d" % (conn.index, d, len(shown), len(frames)))
    for i, (f, s) in enumerate(zip(frames, shown)):
        where = "connection %d %s frame %d (capture frame %d, %s)" % (
            conn.index, d, i, f.frame_no, f.desc())
        if s.frame_no != f.frame_no:
            errors.append("%s: shown in capture frame %s" % (where, s.frame_no))
        want = expected_fields(f)
        flag_names = {"yamux.flags.syn", "yamux.flags.ack", "yamux.flags.fin",
                      "yamux.flags.rst", "yamux.flags.unknown", "yamux.body"}
        got_names = set(s.fields) - flag_names
        if got_names != set(want):
            errors.append("%s: fields %s, want %s" %
                          (where, sorted(got_names), sorted(want)))
        for k, v in want.items():
            if s.num(k) != v:
                errors.append("%s: %s = %s, want %d" %
                              (where, k, s.fields.get(k), v))
        for bit, name in ((1, "syn"), (2, "ack"), (4, "fin"), (8, "rst")):
            if s.num("yamux.flags." + name) != (1 if f.flags & bit else 0):
                errors.append("%s: flag %s shown wrong" % (where, name))
        if s.experts != f.experts:
            errors.append("%s: expert infos %s, want %s" %
                          (where, sorted(s.experts), sorted(f.experts)))
        want_body = None
        if f.version == 0 and f.type == 0 and f.length > 0:
            want_body = (len(f.body), zlib.adler32(f.body))
        if s.body != want_body:
            errors.append("%s: body handed on %s, want %s" %
                          (where, s.body, want_body))
        if len(errors) > 20:
            return


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--lua", default=os.path.join(TOP, "tools", "wireshark",
                                                  "yamux.lua"),
                    help="the dissector (default: tools/wireshark/yamux.lua)")
    ap.add_argument("--port", type=int)
    ap.add_argument("--trace", action="append", default=[],
                    help="PREFIX:server|client (the Go peer's role)")
    ap.add_argument("--require", default="",
                    help="expert=min,... counts that must be reached")
    ap.add_argument("--min-frames", type=int, default=1)
    ap.add_argument("--initial-window", type=int, default=INITIAL_WINDOW)
    a = ap.parse_args()

    port, conns = tcp_connections(a.pcap, a.port)
    if not conns:
        fail("no TCP connection on port %s in %s" % (port, a.pcap))
    streams = [(c, {d: c.stream(d) for d in ("c2s", "s2c")}) for c in conns]

    # The capture against what the Go peer's transport saw.
    traces = []
    for t in a.trace:
        prefix, role = t.rsplit(":", 1)
        n = 1
        while os.path.exists("%s.%d.tx" % (prefix, n)):
            traces.append((prefix, n, role))
            n += 1
    if a.trace:
        if len(traces) != len(conns):
            fail("%d traced transports, %d connections in the capture" %
                 (len(traces), len(conns)))
        for (c, data), (prefix, n, role) in zip(streams, traces):
            with open("%s.%d.tx" % (prefix, n), "rb") as f:
                tx = f.read()
            with open("%s.%d.rx" % (prefix, n), "rb") as f:
                rx = f.read()
            sent = {"s2c": tx, "c2s": rx} if role == "server" else \
                {"c2s": tx, "s2c": rx}
            # The Go peer logs a write before the socket takes it (a write
            # into a connection it is closing is logged, not sent), and stops
            # reading when it closes: what it sent starts with what the
            # capture holds, which starts with what it received.
            out_d = "s2c" if role == "server" else "c2s"
            for d in ("c2s", "s2c"):
                cap, tr = data[d][0], sent[d]
                ok = tr.startswith(cap) if d == out_d else cap.startswith(tr)
                if not ok:
                    fail("connection %d %s: the capture (%d bytes) differs "
                         "from %s.%d.%s (%d bytes)" %
                         (c.index, d, len(cap), prefix, n,
                          "tx" if d == out_d else "rx", len(tr)))

    frames = {}
    total = 0
    partial = 0
    for c, data in streams:
        per_conn = []
        for d in ("c2s", "s2c"):
            # A peer closing mid-write can leave a frame unfinished (the
            # Go peer writes header and body separately); tshark shows no
            # frame there either.
            fr, rest = decode_frames(*data[d])
            if rest:
                partial += 1
            frames[(c.index, d)] = fr
            per_conn += [(f.frame_no, d, f) for f in fr]
            total += len(fr)
        per_conn.sort(key=lambda x: x[0])  # stable: order within a packet
        apply_rules([(d, f) for _, d, f in per_conn], a.initial_window)
    if total < a.min_frames:
        fail("%d frames in the capture, want at least %d" %
             (total, a.min_frames))

    errors = []
    for how in ("port", "decode-as", "two-pass"):
        shown = run_tshark(a.lua, a.pcap, port, how)
        # tshark's TCP streams, matched to ours by port pair in order.
        used = set()
        for c in conns:
            pair = {c.client[1], c.server[1]}
            idx = next((i for i in sorted(shown) if i not in used and
                        set(shown[i]) <= pair), None)
            if idx is None:
                per_dir = {}
            else:
                used.add(idx)
                per_dir = shown[idx]
            for d, src in (("c2s", c.client), ("s2c", c.server)):
                compare(c, d, frames[(c.index, d)], per_dir.get(src[1], []),
                        errors)
        if len(used) != len(shown):
            errors.append("tshark shows yamux on connections the capture "
                          "does not have")
        if errors:
            errors.insert(0, {"port": "with the port preference:",
                              "decode-as": "with Decode As:",
                              "two-pass": "in tshark's second pass (-2):"}[how])
            break
    if errors:
        for e in errors[:20]:
            print("wireshark check: " + e, file=sys.stderr)
        sys.exit(1)

    counts = {}
    bodies = 0
    for fr in frames.values():
        for f in fr:
            for e in f.experts:
                counts[e] = counts.get(e, 0) + 1
            if f.version == 0 and f.type == 0 and f.length > 0:
                bodies += 1
    for item in filter(None, a.require.split(",")):
        name, n = item.split("=")
        if counts.get(name, 0) < int(n):
            fail("%s seen %d times, want at least %s" %
                 (name, counts.get(name, 0), n))
    print("wireshark check: %d connections, %d frames (%d Data bodies, %d "
          "unfinished at a close): tshark matches frame for frame, with the "
          "port preference, with Decode As and in two passes; expert infos: "
          "%s" % (
              len(conns), total, bodies, partial,
              ", ".join("%s=%d" % kv for kv in sorted(counts.items()))
              or "none"))


if __name__ == "__main__":
    main()
