// Library scenarios: what @chainsafe/libp2p-yamux can express through its
// API. The raw hostile cases are the Go peer's (interop/gopeer).
// Mirrors interop/gopeer/scenarios.go.

import crypto from 'node:crypto'

export const expectZero = 0 // exit 0
export const expectNonZero = 1 // exit != 0, one stderr line, no signal
export const expectClean = 2 // no signal; exit 0, or != 0 with one line

export class SkipError extends Error {}

export function scenarios () {
  return [
    { name: 'open_echo', run: openEcho },
    { name: 'concurrent_1000', run: concurrent1000 },
    { name: 'accept_backlog', run: acceptBacklog },
    { name: 'bulk_256m', run: bulk256m },
    { name: 'big_window', run: bigWindow },
    { name: 'halfclose_client_first', run: halfcloseClientFirst },
    { name: 'halfclose_data_flowing', run: halfcloseDataFlowing },
    { name: 'reset', run: reset },
    { name: 'ping', run: ping },
    { name: 'keepalive', run: keepalive, extra: (p) => p.kaArgs },
    { name: 'goaway', run: goaway },
    { name: 'close_with_open_streams', run: closeWithOpenStreams },
    { name: 'close_abrupt', run: closeAbrupt, expect: expectClean },
    { name: 'initial_window_unannounced', run: initialWindowUnannounced, expect: expectNonZero }
  ]
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// ---- data: slices of one random pattern, checked by SHA-256 -------------

// Every stream sends a window of this pattern starting at a place its seed
// picks; the echo is checked against the hash of what was sent. Sending
// views of one buffer costs no generation time, so the measure is the
// library's.
const PATTERN = crypto.randomBytes(8 << 20)

function slices (seed, total, chunk, fn) {
  const base = Number((BigInt(seed) * 2654435761n) % BigInt(PATTERN.length))
  for (let pos = 0; pos < total;) {
    const o = (base + pos) % PATTERN.length
    const n = Math.min(chunk, total - pos, PATTERN.length - o)
    const r = fn(PATTERN.subarray(o, o + n))
    pos += n
    if (r === false) return pos
  }
  return total
}

// expected is the hash sendData produces, without writing.
function expected (seed, total) {
  const h = crypto.createHash('sha256')
  slices(seed, total, 1 << 20, (b) => h.update(b))
  return h.digest('hex')
}

// sendData writes total bytes in chunks, waiting for 'drain' when the
// stream says so; returns their hash.
async function sendData (st, seed, total, chunk) {
  const h = crypto.createHash('sha256')
  const base = Number((BigInt(seed) * 2654435761n) % BigInt(PATTERN.length))
  for (let pos = 0; pos < total;) {
    const o = (base + pos) % PATTERN.length
    const n = Math.min(chunk, total - pos, PATTERN.length - o)
    const b = PATTERN.subarray(o, o + n)
    h.update(b)
    let ok
    try {
      ok = st.send(b)
    } catch (err) {
      throw new Error(`write after ${pos} bytes: ${err.message}`)
    }
    pos += n
    try {
      if (!ok) await st.onDrain()
      // 'drain' also fires when the transport drains while this stream's
      // own queue is still full (no window): bound the queue ourselves.
      while (st.writeBufferLength >= WRITE_QUEUE) await writable(st)
    } catch (err) {
      throw errOf(err, `write after ${pos} bytes`)
    }
  }
  return h.digest('hex')
}

const WRITE_QUEUE = 1024 * 1024

// writable resolves on the stream's next 'drain' or 'idle', rejects on
// 'close'.
function writable (st) {
  return new Promise((resolve, reject) => {
    const done = (evt) => {
      st.removeEventListener('drain', done)
      st.removeEventListener('idle', done)
      st.removeEventListener('close', done)
      if (evt.type === 'close') reject(evt.error ?? new Error('stream closed'))
      else resolve()
    }
    st.addEventListener('drain', done)
    st.addEventListener('idle', done)
    st.addEventListener('close', done)
  })
}

// Reader consumes a stream's messages from the moment it is created: a
// byte count and a running hash, optionally the bytes (keep), a progress
// callback, and a slow mode that pauses the stream (no window updates)
// for a moment every 256 KiB.
class Reader {
  constructor (st, opts = {}) {
    this.st = st
    this.n = 0
    this.hash = crypto.createHash('sha256')
    this.keep = opts.keep ? [] : null
    this.progress = opts.progress ?? null
    this.slow = opts.slow ?? false
    this.sincePause = 0
    this.waiters = []
    this.ended = false
    this.error = null
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    this.done.catch(() => {})
    st.addEventListener('message', (evt) => this.onMessage(evt.data))
    // 'close' (both directions done) can come while bytes still wait in a
    // paused stream's buffer: only 'end' says every byte was delivered.
    st.addEventListener('end', () => {
      // abort() and a remote reset dispatch 'end' just before their 'close'
      // with the error: wait for that one.
      if (st.status !== 'aborted' && st.status !== 'reset') this.finish(null)
    })
    st.addEventListener('close', (evt) => {
      if (evt.error) this.finish(evt.error)
      else if (st.readableEnded) this.finish(null)
    })
  }

  onMessage (d) {
    const bufs = d instanceof Uint8Array ? [d] : [...d]
    for (const b of bufs) {
      this.hash.update(b)
      this.n += b.byteLength
      this.sincePause += b.byteLength
      if (this.keep) this.keep.push(Buffer.from(b))
      if (this.progress) this.progress(b.byteLength)
    }
    this.wake()
    if (this.slow && this.sincePause >= 256 * 1024) {
      this.sincePause = 0
      try {
        this.st.pause()
        setTimeout(() => { try { this.st.resume() } catch {} }, 5)
      } catch {}
    }
  }

  finish (err) {
    if (this.ended) return
    this.ended = true
    this.error = err
    this.wake()
    if (err) this.reject(err)
    else this.resolve({ n: this.n, hash: this.hash.digest('hex') })
  }

  wake () {
    const w = this.waiters
    this.waiters = []
    w.forEach((f) => f())
  }

  // waitFor resolves once n bytes have arrived (or the stream ended).
  async waitFor (n, ms) {
    const deadline = Date.now() + ms
    while (this.n < n && !this.ended) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for ${n} bytes (got ${this.n})`)
      let timer
      await new Promise((resolve) => {
        this.waiters.push(resolve)
        timer = setTimeout(resolve, left)
      })
      clearTimeout(timer)
    }
    if (this.error) throw this.error
    return this.n
  }

  bytes () { return Buffer.concat(this.keep) }
}

// echoStream sends size bytes on st and half-closes, while reading the echo
// to EOF; it checks count and hash.
async function echoStream (st, seed, size, progress = null, info = {}) {
  const rd = info.reader ?? new Reader(st, { progress })
  info.reader = rd
  const id = st.streamId
  const writer = (async () => {
    await sendData(st, seed, size, 256 * 1024)
    await st.close().catch((err) => { throw errOf(err, 'close') })
  })()
  let werr = null
  let rerr = null
  let res = null
  await Promise.all([
    writer.catch((err) => { werr = err }),
    rd.done.then((r) => { res = r }, (err) => { rerr = err })
  ])
  if (werr) throw new Error(`stream ${id}: ${werr.message}`)
  if (rerr) throw new Error(`stream ${id}: read after ${rd.n} bytes: ${rerr.message}`)
  if (res.n !== size) throw new Error(`stream ${id}: echoed ${res.n} bytes, sent ${size}`)
  if (res.hash !== expected(seed, size)) throw new Error(`stream ${id}: echoed bytes differ (sha256)`)
}

// errOf turns what the library rejects with (sometimes a close Event, from
// p-event) into an Error.
export function errOf (x, what) {
  if (x instanceof Error) return x
  if (x && x.type) {
    const e = x.error
    return new Error(`${what}: stream '${x.type}' event${e ? ` (${e.name}: ${e.message})` : ''}${x.local !== undefined ? (x.local ? ' local' : ' remote') : ''}`)
  }
  return new Error(`${what}: ${String(x)}`)
}

function mibps (n, ms) {
  return n / (1 << 20) / (ms / 1000)
}

// seeded sizes, so a failure repeats
function mulberry32 (a) {
  return () => {
    a |= 0
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// ---- library scenarios --------------------------------------------------

async function openEcho (e) {
  const s = e.session()
  const st = await s.createStream()
  const want = e.ourID(0)
  if (st.streamId !== want) throw new Error(`stream id ${st.streamId}, want ${want}`)
  const rd = new Reader(st, { keep: true })
  const msg = Buffer.from(`hello from ${e.p.libName} ${e.p.libVersion}`)
  st.send(msg)
  await rd.waitFor(msg.length, 10000).catch((err) => {
    throw new Error(`read echo (before our FIN): ${err.message}`)
  })
  if (!rd.bytes().subarray(0, msg.length).equals(msg)) {
    throw new Error(`echo "${rd.bytes()}", want "${msg}"`)
  }
  await st.close().catch((err) => { throw errOf(err, 'close') })
  const r = await rd.done.catch((err) => {
    throw new Error(`read to EOF after our FIN: ${err.message}`)
  })
  if (r.n !== msg.length) throw new Error(`${r.n - msg.length} unexpected bytes after the echo`)
  return `stream ${st.streamId} echoed ${msg.length} bytes, FIN both ways`
}

const MAX_UNACKED = 256
const isUnacked = (st) => st.state === 0 || st.state === 1 // Init, SYNSent

// concurrent opens n streams from n concurrent tasks and echoes random
// sizes up to 1 MiB on each. limitUnacked holds an open while 256 of ours
// wait for their ACK, as hashicorp's OpenStream and rust-yamux do; the
// library has no such limit, so without it a burst of SYNs meets the
// peer's accept backlog (256): the ones beyond it are refused with RST.
async function concurrent (e, n, limitUnacked, maxSize = 1 << 20) {
  const s = e.session()
  const rng = mulberry32(12345)
  const sizes = []
  let total = 0
  for (let i = 0; i < n; i++) {
    sizes.push(1 + Math.floor(rng() * maxSize))
    total += sizes[i]
  }
  const start = performance.now()
  const errs = []
  const live = []
  let refused = 0
  let waits = 0
  let opening = 0
  // Without the limit all SYNs leave in one burst (one write: the
  // transport is corked meanwhile), before any data.
  let pre = null
  if (!limitUnacked) {
    e.c.writable.cork()
    pre = await Promise.all(sizes.map(async () => {
      const st = await s.createStream()
      return { st, reader: new Reader(st) }
    }))
    await sleep(10)
    e.c.writable.uncork()
    await sleep(100)
  }
  await Promise.all(sizes.map(async (size, i) => {
    let st
    const info = {}
    if (pre) {
      st = pre[i].st
      info.reader = pre[i].reader
    } else {
      try {
        while (opening + live.filter(isUnacked).length >= MAX_UNACKED) {
          waits++
          await sleep(1)
        }
        opening++
        st = await s.createStream().finally(() => { opening-- })
        live.push(st)
      } catch (err) {
        errs.push(new Error(`open #${i}: ${err.message}`))
        return
      }
    }
    try {
      await echoStream(st, 1000 + i, size, null, info)
    } catch (err) {
      // refused: reset by the peer before a byte came back
      if (!limitUnacked && st.status === 'reset' && info.reader.n === 0) refused++
      else errs.push(err)
    }
  }))
  const ms = performance.now() - start
  if (errs.length) throw new Error(`${errs.length} of ${n} streams failed, first: ${errs[0].message}`)
  if (limitUnacked) {
    return `${n} streams opened concurrently (at most ${MAX_UNACKED} un-ACKed; ${waits ? 'limit reached' : 'limit not reached'}), ${(total / (1 << 20)).toFixed(1)} MiB each way, all sha256 ok, ${mibps(total, ms).toFixed(0)} MiB/s`
  }
  if (n - refused < 256) throw new Error(`only ${n - refused} of ${n} accepted (backlog is 256)`)
  // Recovered: a new stream is accepted and echoed.
  const st = await s.createStream()
  await echoStream(st, 99, 64 * 1024).catch((err) => {
    throw new Error(`stream after the burst: ${err.message}`)
  })
  return `${n} SYNs in one write: ${n - refused} accepted and echoed (up to 16 KiB each, sha256 ok), ${refused} refused with RST before ACK (peer's accept backlog); a new stream after it echoed`
}

function concurrent1000 (e) {
  return concurrent(e, 1000, true)
}

function acceptBacklog (e) {
  return concurrent(e, 1000, false, 16 * 1024)
}

async function bulk (e, init, size) {
  const s = e.session(init)
  const st = await s.createStream()
  const start = performance.now()
  await echoStream(st, 7, size)
  const ms = performance.now() - start
  return { st, detail: `${size >> 20} MiB echoed on one stream, sha256 ok, ${mibps(size, ms).toFixed(0)} MiB/s each way` }
}

async function bulk256m (e) {
  return (await bulk(e, {}, 256 << 20)).detail
}

// bigWindow: the library does not announce a larger window on SYN (see
// initial_window_unannounced); it grows the receive window while the
// stream runs (up to maxStreamWindowSize, 16 MiB by default) and announces
// the growth in Window Update deltas. The peer must honour them.
async function bigWindow (e) {
  const s = e.session({ streamOptions: { maxStreamWindowSize: 16 << 20 } })
  await s.ping() // the growth rule needs an RTT
  const st = await s.createStream()
  let maxWin = 0
  const t = setInterval(() => { maxWin = Math.max(maxWin, st.recvWindow) }, 1)
  const start = performance.now()
  const size = 64 << 20
  try {
    await echoStream(st, 8, size, () => { maxWin = Math.max(maxWin, st.recvWindow) })
  } finally {
    clearInterval(t)
  }
  const ms = performance.now() - start
  if (maxWin <= 256 * 1024) {
    throw new SkipError(`the library never grew its window (rtt ${s.getRTT()} ms); 64 MiB echoed at 256 KiB`)
  }
  return `our window grew to ${maxWin >> 10} KiB (WU deltas): 64 MiB echoed, sha256 ok, ${mibps(size, ms).toFixed(0)} MiB/s each way`
}

async function halfcloseClientFirst (e) {
  const s = e.session()
  const st = await s.createStream()
  const rd = new Reader(st)
  // Fits in the peer's window: everything is written and FIN sent without
  // waiting for any echo.
  const size = 100 * 1024
  await sendData(st, 3, size, 16 * 1024)
  await st.close().catch((err) => { throw errOf(err, 'close') })
  const r = await rd.done.catch((err) => {
    throw new Error(`read after our FIN: ${err.message} (got ${rd.n} bytes)`)
  })
  if (r.n !== size || r.hash !== expected(3, size)) {
    throw new Error(`got ${r.n} bytes (want ${size}) or hash mismatch`)
  }
  return 'wrote 100 KiB + FIN before reading; all echoed, then EOF'
}

async function halfcloseDataFlowing (e) {
  // The library grows the receive window up to maxStreamWindowSize (16 MiB)
  // but aborts a paused stream whose buffer passes maxReadBufferLength
  // (4 MiB): a paused reader must allow the whole window (JS_RBUF=1000000
  // shows the abort).
  const rbuf = Number(process.env.JS_RBUF ?? (17 << 20))
  const s = e.session({ streamOptions: { maxReadBufferLength: rbuf } })
  const st = await s.createStream()
  const size = 16 << 20
  // A reader slower than the writer (it pauses the stream, so no window
  // updates, 5 ms every 256 KiB), so a good part of the echo is still in
  // flight when our FIN goes out.
  const rd = new Reader(st, { slow: true })
  const atFin = await (async () => {
    await sendData(st, 4, size, 64 * 1024)
    const n = rd.n
    await st.close().catch((err) => { throw errOf(err, 'close') })
    return n
  })().catch((err) => {
    throw rd.error ? new Error(`${rd.error.name}: ${rd.error.message} (${err.message})`) : err
  })
  const r = await rd.done.catch((err) => {
    throw new Error(`read after ${rd.n} bytes: ${err.message}`)
  })
  if (r.n !== size || r.hash !== expected(4, size)) {
    throw new Error(`echoed ${r.n} bytes (want ${size}) or hash mismatch`)
  }
  const after = r.n - atFin
  if (after <= 0) throw new Error('no data flowed after our FIN (test too weak)')
  return `16 MiB: ${after >> 10} KiB still echoed after our FIN, then EOF`
}

// reset: Stream.abort() sends WU|RST (the library has no error code) while
// the peer's echo is blocked on our window (we paused the stream: no window
// updates). The next stream and a ping must still work.
async function reset (e) {
  const s = e.session()
  const st = await s.createStream()
  const rd = new Reader(st)
  // Some echo first, then pause: the echo stalls on our window.
  const size = 2 << 20
  const w = sendData(st, 5, size, 64 * 1024).catch(() => {})
  await rd.waitFor(64 * 1024, 10000)
  st.pause()
  await sleep(200)
  const atReset = rd.n
  st.abort(new Error('interop reset'))
  await w
  if (atReset >= size) throw new Error('everything was echoed before the reset (test too weak)')
  const st2 = await s.createStream()
  const rd2 = new Reader(st2, { keep: true })
  const msg = Buffer.from('after reset')
  st2.send(msg)
  await st2.close().catch((err) => { throw errOf(err, 'close') })
  const r2 = await rd2.done.catch((err) => { throw new Error(`stream after the reset: ${err.message}`) })
  if (r2.n !== msg.length || !rd2.bytes().equals(msg)) throw new Error('stream after the reset: wrong echo')
  const rtt = await s.ping({ signal: AbortSignal.timeout(5000) }).catch((err) => {
    throw new Error(`ping after the reset: ${err.message}`)
  })
  return `stream ${st.streamId} reset (WU|RST) after ${atReset >> 10} KiB echoed of ${size >> 10} KiB; stream ${st2.streamId} echoed, ping ${rtt} ms`
}

async function ping (e) {
  const s = e.session({ enableKeepAlive: false })
  const rtts = []
  for (let i = 0; i < 20; i++) {
    const t = performance.now()
    await s.ping({ signal: AbortSignal.timeout(10000) }).catch((err) => {
      throw new Error(`ping ${i}: ${err.message}`)
    })
    rtts.push(performance.now() - t)
  }
  rtts.sort((a, b) => a - b)
  const f = (x) => `${(x * 1000).toFixed(0)}µs`
  return `20 pings, rtt min ${f(rtts[0])} median ${f(rtts[10])} max ${f(rtts[19])}`
}

// keepalive: both sides ping often (we every 50 ms, the peer per
// --keepalive-args) while one stream is saturated both ways. No side may
// declare the other dead; our extra pings must come back within 2 s (the
// library's own keepalive has no deadline: a lost pong is only logged).
async function keepalive (e) {
  const s = e.session({ enableKeepAlive: true, keepAliveInterval: 50 })
  const st = await s.createStream()
  let stop = false
  let maxRTT = 0
  let pings = 0
  let pingErr = null
  const pinger = (async () => {
    while (!stop) {
      await sleep(20)
      const t = performance.now()
      try {
        await s.ping({ signal: AbortSignal.timeout(2000) })
      } catch (err) {
        pingErr = err
        return
      }
      pings++
      maxRTT = Math.max(maxRTT, performance.now() - t)
    }
  })()
  const size = 128 << 20
  const start = performance.now()
  let err = null
  await echoStream(st, 9, size).catch((x) => { err = x })
  const ms = performance.now() - start
  stop = true
  await pinger
  if (err) throw new Error(`${err.message} (muxer ${s.status})`)
  if (s.status !== 'open') throw new Error('session closed during the transfer (keepalive?)')
  if (pingErr) throw new Error(`ping under load: ${pingErr.message}`)
  return `128 MiB echoed in ${(ms / 1000).toFixed(1)}s with keepalive 50ms both ways; ${pings} extra pings, max rtt ${maxRTT.toFixed(1)}ms`
}

// goaway: the library's only Go Away(0) is muxer.close(): it half-closes
// every stream (after their queued writes), then sends Go Away(0). We
// queue 8 MiB on each of 4 streams, close once 1 MiB came back, and the
// echo must still complete. A new stream after it fails locally.
async function goaway (e) {
  const s = e.session()
  const n = 4
  const size = 8 << 20
  let progress = 0
  const streams = []
  const readers = []
  const hashes = []
  for (let i = 0; i < n; i++) {
    const st = await s.createStream()
    streams.push(st)
    readers.push(new Reader(st, { progress: (k) => { progress += k } }))
    // Queue it all: close() must not cut a writer off (a stream that is
    // closing refuses send()).
    const h = crypto.createHash('sha256')
    slices(50 + i, size, 1 << 20, (b) => { h.update(b); st.send(b) })
    hashes.push(h.digest('hex'))
  }
  const deadline = Date.now() + 20000
  while (progress < (1 << 20) && Date.now() < deadline) await sleep(1)
  const atClose = progress
  await s.close({ signal: AbortSignal.timeout(e.p.timeoutMs) })
  const atGA = progress
  for (let i = 0; i < n; i++) {
    const r = await readers[i].done.catch((err) => {
      throw new Error(`stream ${streams[i].streamId} after our GoAway: ${err.message}`)
    })
    if (r.n !== size || r.hash !== hashes[i]) {
      throw new Error(`stream ${streams[i].streamId}: echoed ${r.n} of ${size} bytes or hash mismatch`)
    }
  }
  let detail = `${n} streams: close() at ${atClose >> 10} KiB echoed, GoAway(0) at ${atGA >> 10} KiB, ${(n * size - atGA) >> 10} KiB echoed after it`
  try {
    await s.createStream()
    detail += '; a new stream after it was allowed locally'
  } catch (err) {
    detail += `; new open after it fails locally (${err.name})`
  }
  return detail
}

// openSome opens n streams, queues 256 KiB on each without closing, and
// waits for the first KiB of each echo (so they are live both ways).
async function openSome (s, n) {
  const streams = []
  for (let i = 0; i < n; i++) {
    const st = await s.createStream()
    const rd = new Reader(st)
    slices(i, 256 * 1024, 32 * 1024, (b) => { st.send(b) })
    await rd.waitFor(1024, 10000)
    streams.push(st)
  }
  return streams
}

// closeWithOpenStreams: muxer.close() with live streams (a FIN on each
// once its queued bytes are out, then Go Away(0)), then the transport is
// half-closed and drained, as a libp2p connection close does. The peer
// must end cleanly with status 0.
async function closeWithOpenStreams (e) {
  const s = e.session()
  await openSome(s, 16)
  await s.close({ signal: AbortSignal.timeout(10000) })
  e.closed = true
  return '16 streams mid-transfer, muxer.close() (FINs, GoAway(0)), transport EOF'
}

// closeAbrupt: muxer.abort(): a RST on every stream and a Go Away, then
// both directions of the transport are closed at once. The peer may get
// EPIPE or ECONNRESET while it still writes. It must not die from a signal.
async function closeAbrupt (e) {
  const s = e.session()
  await openSome(s, 16)
  e.c.abrupt = true
  s.abort(new Error('interop abort'))
  e.closed = true
  return '16 streams mid-transfer, muxer.abort() (RSTs, GoAway), transport closed both ways'
}

// initialWindowUnannounced documents a library behaviour: a larger
// streamOptions.initialStreamWindowSize is never announced (the SYN's
// Window Update carries delta 0) yet the library also assumes the peer
// granted it that much: it sends beyond the 256 KiB the peer granted. The
// peer must answer Go Away(1) (PROTOCOL.md: Data beyond the window).
async function initialWindowUnannounced (e) {
  const s = e.session({ streamOptions: { initialStreamWindowSize: 1 << 20 } })
  const st = await s.createStream()
  const rd = new Reader(st)
  slices(11, 1 << 20, 1 << 20, (b) => { st.send(b) })
  const deadline = Date.now() + 10000
  while (s.remoteGoAway === undefined && s.status === 'open' && Date.now() < deadline) await sleep(5)
  e.closed = true
  if (s.remoteGoAway !== 1) {
    throw new Error(`expected the peer's Go Away(1), got ${s.remoteGoAway} (muxer ${s.status}, ${rd.n} bytes echoed)`)
  }
  return 'initialStreamWindowSize 1 MiB: 1 MiB sent against a 256 KiB window; peer sent GoAway(1)'
}
